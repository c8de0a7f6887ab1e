import Foundation
import TestSupport
import Testing

/// examples/backend_loop.py, the loop the docs show, run as a backend would run it against a
/// stand-in provider on loopback: it draws only available keys and reports 200, 429, 401 and 503.
@Suite struct BackendLoopTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// python3 with psycopg (scripts/test.sh installs it).
    static var pythonWithPsycopg: Bool {
        (try? runTool(["python3", "-c", "import psycopg"]).status) == 0
    }

    @Test(.enabled(if: pythonWithPsycopg, "python3 with psycopg is not installed"))
    func theExampleDrawsOnlyAvailableKeysAndReportsEachStatus() throws {
        let answers = [
            "sk-loop-works-000000001": [200, nil], "sk-loop-limited-0000001": [429, 30],
            "sk-loop-revoked-0000001": [401, nil], "sk-loop-flaky-000000001": [503, nil],
        ]
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("loop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let seenFile = work.appendingPathComponent("seen").path
        let portFile = work.appendingPathComponent("port").path
        let answersJSON = String(decoding: try JSONSerialization.data(withJSONObject: answers), as: UTF8.self)
        let provider = Process()
        provider.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        provider.arguments = [
            "python3", Self.root.appendingPathComponent("Tests/Fixtures/stand_in_provider.py").path, answersJSON,
            seenFile, portFile,
        ]
        try provider.run()
        defer { provider.terminate() }
        var port: String?
        for _ in 0..<500 where port == nil {
            port = try? String(contentsOfFile: portFile, encoding: .utf8)
            if port == nil || port?.isEmpty == true {
                port = nil
                usleep(10_000)
            }
        }
        let listening = try #require(port, "the stand-in provider did not start")

        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            let added = try KeyAdminProcess.run(
                ["--database-url", database.connectionString, "--add-bulk", "openai"],
                stdin: answers.keys.sorted().joined(separator: "\n"))
            #expect(added.status == 0, "\(added.stderr)")
            let environment = ProcessInfo.processInfo.environment.merging([
                "DATABASE_URL": database.connectionString, "OPENAI_BASE_URL": "http://127.0.0.1:\(listening)/v1",
                // At worst: the revoked key, the limited one, three failures of the flaky one, then it works.
                "ATTEMPTS": "6",
            ]) { $1 }
            // 30 calls: each key is drawn while it is available (a key missed by all 30 draws
            // happens about once in 5,000 runs of this test).
            for _ in 0..<30 {
                let run = try runTool(
                    ["python3", Self.root.appendingPathComponent("examples/backend_loop.py").path, "hi"],
                    environment: environment)
                #expect(run.status == 0, "\(run.output)")
                #expect(run.output.contains("hello"))
                for key in answers.keys { #expect(!run.output.contains(key), "the example printed a key") }
            }
            let seen = (try? String(contentsOfFile: seenFile, encoding: .utf8))?.split(separator: "\n") ?? []
            // Once reported, a revoked key is never drawn again, nor a rate-limited one while it
            // cools down; a failing one is drawn until its third failure cools it down.
            #expect(seen.filter { $0 == "sk-loop-revoked-0000001" }.count <= 1, "\(seen)")
            #expect(seen.filter { $0 == "sk-loop-limited-0000001" }.count <= 1, "\(seen)")
            #expect(seen.filter { $0 == "sk-loop-flaky-000000001" }.count <= 3, "\(seen)")
            #expect(seen.filter { $0 == "sk-loop-works-000000001" }.count == 30)
            for key in answers.keys { #expect(seen.contains(Substring(key)), "\(key) was never drawn") }
            let states = try database.values(
                """
                SELECT api_key || ' ' || CASE
                    WHEN disabled_at IS NOT NULL THEN 'disabled:' || disabled_automatically::text
                    WHEN cooldown_until > now() THEN 'cooling:' || coalesce(last_status, 0)
                    ELSE 'available:' || consecutive_failures END AS value
                FROM provider_api_keys ORDER BY api_key
                """)
            let flakyDrawn = seen.filter { $0 == "sk-loop-flaky-000000001" }.count
            #expect(
                states == [
                    flakyDrawn == 3
                        ? "sk-loop-flaky-000000001 cooling:503" : "sk-loop-flaky-000000001 available:\(flakyDrawn)",
                    seen.contains("sk-loop-limited-0000001")
                        ? "sk-loop-limited-0000001 cooling:429" : "sk-loop-limited-0000001 available:0",
                    seen.contains("sk-loop-revoked-0000001")
                        ? "sk-loop-revoked-0000001 disabled:true" : "sk-loop-revoked-0000001 available:0",
                    "sk-loop-works-000000001 available:0",
                ], "\(states)")
            // A chat session draws its key with get_sticky_api_key, and still gets an answer.
            for _ in 0..<3 {
                let session = try runTool(
                    ["python3", Self.root.appendingPathComponent("examples/backend_loop.py").path, "hi"],
                    environment: environment.merging(["SESSION": "chat-7"]) { $1 })
                #expect(session.status == 0, "\(session.output)")
                #expect(session.output.contains("hello"))
            }
        }
    }
}
