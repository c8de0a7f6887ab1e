import Foundation
import TestSupport
import Testing

/// A real hot standby (pg_basebackup -R into a second local cluster): the two lookups answer
/// there, as on a read replica, and writes fail with a clear read-only error.
@Suite struct StandbyTests {
    @Test(.enabled(if: PrivateServer.isAvailable, "no PostgreSQL server binaries"))
    func lookupsAnswerOnAHotStandbyAndReportsSayItIsReadOnly() throws {
        let primary = try PrivateServer()
        func onPrimary(_ arguments: String...) throws -> KeyAdminProcess.Output {
            try KeyAdminProcess.run(["--database-url", primary.connectionString] + arguments)
        }
        #expect(try onPrimary("--migrate").status == 0)
        #expect(try onPrimary("--add-provider", "openai").status == 0)
        for index in 1...4 { #expect(try onPrimary("--add-key", "openai", "sk-standby-key-\(index)-0000").status == 0) }
        #expect(try onPrimary("--disable-key", "openai", "2").status == 0)
        #expect(try onPrimary("--set-weight", "openai", "3", "5").status == 0)
        #expect(try onPrimary("--set-tier", "openai", "4", "2").status == 0)
        let standby = try PrivateServer(standbyOf: primary)
        let url = standby.connectionString
        // The standby has replayed the primary once it shows the disabled key.
        var caughtUp = false
        for _ in 0..<100 where !caughtUp {
            let listed = try KeyAdminProcess.run(["--database-url", url, "--list", "--state", "disabled", "--json"])
            caughtUp = listed.stdout.contains("\"number\":2")
            if !caughtUp { usleep(100_000) }
        }
        #expect(caughtUp)
        let exact = try KeyAdminProcess.run(["--database-url", url, "--get-key", "openai", "3"])
        #expect(exact.stdout == "sk-standby-key-3-0000\n", "\(exact.stderr)")
        for _ in 0..<20 {
            let random = try KeyAdminProcess.run(["--database-url", url, "--random-key", "openai"])
            #expect(random.status == 0, "\(random.stderr)")
            #expect(random.stdout.hasPrefix("sk-standby-key-") && random.stdout != "sk-standby-key-2-0000\n")
        }
        // The sticky pick reads only, too: the same key for the same conversation, on the standby.
        let sticky = try runTool([
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c",
            "SELECT get_sticky_api_key('openai', 'conversation-7') = get_sticky_api_key('openai', 'conversation-7'), get_sticky_api_key('openai', 'conversation-7') IN ('sk-standby-key-1-0000', 'sk-standby-key-3-0000')",
            url,
        ])
        #expect(sticky.output == "t|t\n", "\(sticky.output)")
        let report = try runTool([
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c",
            "SELECT report_api_key_result('openai', 'sk-standby-key-1-0000', 429, 60)", url,
        ])
        #expect(report.status != 0)
        #expect(report.output.contains("read-only transaction"), "\(report.output)")
        let write = try KeyAdminProcess.run(["--database-url", url, "--disable-key", "openai", "1"])
        #expect(write.status == 1)
        #expect(write.stderr.contains("connect to the primary, not a read replica"), "\(write.stderr)")
    }
}
