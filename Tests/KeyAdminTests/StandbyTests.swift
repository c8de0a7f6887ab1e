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
        // Usage of two days, one of them finished long ago (summed into usage_days on the
        // standby's primary only: the standby reads its rows).
        let counted = try runTool([
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c",
            """
            SELECT report_api_key_result('openai', 'sk-standby-key-1-0000', 200, p_tokens => 7) FROM generate_series(1, 2);
            UPDATE keyadmin.key_usage SET day = day - 10;
            SELECT report_api_key_result('openai', 'sk-standby-key-3-0000', 200, p_tokens => 1);
            """, primary.connectionString,
        ])
        #expect(counted.status == 0, "\(counted.output)")
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
        // Usage and metrics read only: on the standby they read the rows the primary has not summed.
        let usage = try KeyAdminProcess.run(["--database-url", url, "--usage", "openai", "--days", "30"])
        #expect(usage.status == 0, "\(usage.stderr)")
        #expect(usage.stdout.contains("total: 3 requests (3 2xx), 15 tokens"), "\(usage.stdout)")
        let metrics = try KeyAdminProcess.run(["--database-url", url, "--metrics"])
        #expect(metrics.status == 0, "\(metrics.stderr)")
        #expect(metrics.stdout.contains("keyadmin_tokens_total{provider=\"openai\"} 15"), "\(metrics.stdout)")
        let write = try KeyAdminProcess.run(["--database-url", url, "--disable-key", "openai", "1"])
        #expect(write.status == 1)
        #expect(write.stderr.contains("connect to the primary, not a read replica"), "\(write.stderr)")
    }
}
