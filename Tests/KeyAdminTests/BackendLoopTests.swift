import Foundation
import TestSupport
import Testing

/// examples/backend_loop.py, the loop the docs show, run as a backend would run it against a
/// stand-in provider on loopback: it draws only available keys and reports 200, 429, 401 and 503.
@Suite struct BackendLoopTests {
    static let root = repositoryRoot

    /// python3 with psycopg (scripts/test.sh installs it).
    static var pythonWithPsycopg: Bool {
        (try? runTool(["python3", "-c", "import psycopg"]).status) == 0
    }

    @Test(.enabled(if: pythonWithPsycopg, "python3 with psycopg is not installed"))
    func theExampleDrawsOnlyAvailableKeysAndReportsEachStatus() throws {
        let answers: [String: [Int?]] = [
            "sk-loop-works-000000001": [200, nil], "sk-loop-limited-0000001": [429, 86_400],
            "sk-loop-revoked-0000001": [401, nil], "sk-loop-flaky-000000001": [503, nil],
        ]
        try withStandIn(answers) { listening, seenFile in
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
                // happens about once in 5,000 runs of this test). A loaded machine may take longer
                // than the flaky key's 30 s cooldown (the schema's rule for a third 5xx): each 30 s
                // that passed lets it be drawn once more. The limited key cools for a day.
                let started = Date()
                for _ in 0..<30 {
                    let run = try runTool(
                        ["python3", Self.root.appendingPathComponent("examples/backend_loop.py").path, "hi"],
                        environment: environment)
                    #expect(run.status == 0, "\(run.output)")
                    #expect(run.output.contains("hello"))
                    for key in answers.keys { #expect(!run.output.contains(key), "the example printed a key") }
                }
                let cooldownsRunOut = Int(Date().timeIntervalSince(started) / 30)
                let seen = (try? String(contentsOfFile: seenFile, encoding: .utf8))?.split(separator: "\n") ?? []
                // Once reported, a revoked key is never drawn again, nor a rate-limited one while it
                // cools down; a failing one is drawn until its third failure cools it down.
                #expect(seen.filter { $0 == "sk-loop-revoked-0000001" }.count <= 1, "\(seen)")
                #expect(seen.filter { $0 == "sk-loop-limited-0000001" }.count <= 1, "\(seen)")
                #expect(seen.filter { $0 == "sk-loop-flaky-000000001" }.count <= 3 + cooldownsRunOut, "\(seen)")
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
                let flakyStates =
                    flakyDrawn < 3
                    ? ["sk-loop-flaky-000000001 available:\(flakyDrawn)"]
                    : ["sk-loop-flaky-000000001 cooling:503", "sk-loop-flaky-000000001 available:\(flakyDrawn)"]
                #expect(flakyStates.contains((states.first ?? nil) ?? ""), "\(states)")
                #expect(
                    Array(states.dropFirst()) == [
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

    /// The example reads what each provider says about its limits and usage: Gemini's per-day
    /// quota in a 429 exhausts the key until the reset; OpenAI's and Anthropic's "no request
    /// left" headers on a 200 rest the key for the seconds they give; every answer's tokens
    /// are counted. One provider per style, one key each, so each run draws that key.
    @Test(.enabled(if: pythonWithPsycopg, "python3 with psycopg is not installed"))
    func theExampleReportsTokensAndTheLimitEachProviderNames() throws {
        let answers: [String: [Int?]] = [
            "sk-loop-plain-000000001": [200, nil, nil], "sk-loop-gemday-00000001": [429, 60, 1],
            "sk-loop-oaiempty-000001": [200, nil, 2], "sk-loop-antempty-000001": [200, nil, 3],
        ]
        let providers = [
            "plain": "sk-loop-plain-000000001", "gemini": "sk-loop-gemday-00000001",
            "oai": "sk-loop-oaiempty-000001", "ant": "sk-loop-antempty-000001",
        ]
        try withStandIn(answers) { listening, _ in
            try TestDatabase.with { (database: TestDatabase) throws in
                for (provider, key) in providers {
                    _ = try keyadmin(database, ["--add-provider", provider])
                    #expect(try keyadmin(database, ["--add-key", provider, key]).status == 0)
                }
                let example = Self.root.appendingPathComponent("examples/backend_loop.py").path
                for provider in providers.keys.sorted() {
                    let run = try runTool(
                        ["python3", example, "hi"],
                        environment: ProcessInfo.processInfo.environment.merging([
                            "DATABASE_URL": database.connectionString, "KEYADMIN_PROVIDER": provider,
                            "OPENAI_BASE_URL": "http://127.0.0.1:\(listening)/v1", "ATTEMPTS": "1",
                        ]) { $1 })
                    #expect(run.status == (provider == "gemini" ? 1 : 0), "\(provider): \(run.output)")
                }
                let states = try database.values(
                    """
                    SELECT p.provider_name || ' ' || CASE
                               WHEN k.exhausted_until = keyadmin.next_reset('America/Los_Angeles') THEN 'exhausted'
                               WHEN k.cooldown_until > now() THEN 'resting ' || ceil(extract(epoch FROM k.cooldown_until - now()))
                               ELSE 'available' END
                           || ' ' || coalesce((SELECT sum(u.tokens) FROM keyadmin.key_usage AS u WHERE u.key_id = k.id), 0)
                           AS value
                    FROM provider_api_keys AS k JOIN providers AS p ON p.id = k.provider_id ORDER BY 1
                    """
                ).compactMap { $0 }
                // Rests are as long as the headers said, less the seconds the run took.
                let resting = { (line: String, seconds: Int) -> Bool in
                    guard let left = Int(line.split(separator: " ")[2]) else { return false }
                    return (seconds - 20...seconds).contains(left)
                }
                #expect(states.count == 4)
                #expect(states.contains("gemini exhausted 0"), "\(states)")
                #expect(states.contains("plain available 42"), "\(states)")
                #expect(
                    states.first { $0.hasPrefix("oai resting") }.map { resting($0, 30) && $0.hasSuffix(" 42") } == true,
                    "\(states)")
                #expect(
                    states.first { $0.hasPrefix("ant resting") }.map { resting($0, 46) && $0.hasSuffix(" 42") } == true,
                    "\(states)")
            }
        }
    }

    /// The stand-in provider (Tests/Fixtures/stand_in_provider.py) answering by key, for `body`
    /// with its port and the file where it writes each key it saw.
    func withStandIn(_ answers: [String: [Int?]], _ body: (String, String) throws -> Void) throws {
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
        // Its output goes nowhere: a child that outlived the tests while holding the runner's
        // stdout made `swift test` wait for it (its 120 s timer) after the last test ended.
        provider.standardOutput = FileHandle.nullDevice
        provider.standardError = FileHandle.nullDevice
        try provider.run()
        defer {
            // SIGKILL: the runner leaves SIGTERM ignored, and children inherit that.
            kill(provider.processIdentifier, SIGKILL)
            provider.waitUntilExit()
        }
        var port: String?
        for _ in 0..<500 where port == nil {
            port = try? String(contentsOfFile: portFile, encoding: .utf8)
            if port == nil || port?.isEmpty == true {
                port = nil
                usleep(10_000)
            }
        }
        let listening = try #require(port, "the stand-in provider did not start")

        try body(listening, seenFile)
    }

    /// A key that fails (500) is not tried again in the same request, sticky or not, while
    /// another key is available; a pool where every key fails ends in one clear line.
    @Test(.enabled(if: pythonWithPsycopg, "python3 with psycopg is not installed"))
    func aFailedKeyIsNotTriedAgainInTheSameRequest() throws {
        let answers: [String: [Int?]] = ["sk-loop-broken-0000001": [500, nil], "sk-loop-works-000000001": [200, nil]]
        try withStandIn(answers) { listening, seenFile in
            try TestDatabase.with { (database: TestDatabase) throws in
                _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
                _ = try KeyAdminProcess.run(
                    ["--database-url", database.connectionString, "--add-bulk", "openai"],
                    stdin: answers.keys.sorted().joined(separator: "\n"))
                let environment = ProcessInfo.processInfo.environment.merging([
                    "DATABASE_URL": database.connectionString, "OPENAI_BASE_URL": "http://127.0.0.1:\(listening)/v1",
                    "ATTEMPTS": "3",
                ]) { $1 }
                let example = Self.root.appendingPathComponent("examples/backend_loop.py").path
                // Conversations whose sticky key is the failing one: each must move to the other key.
                let sessions = try database.values(
                    """
                    SELECT 's' || i AS value FROM generate_series(1, 200) AS i
                    WHERE get_sticky_api_key('openai', 's' || i) = 'sk-loop-broken-0000001' LIMIT 3
                    """)
                #expect(sessions.count == 3)
                for session in sessions.compactMap({ $0 }) {
                    try? FileManager.default.removeItem(atPath: seenFile)
                    let run = try runTool(
                        ["python3", example, "hi"], environment: environment.merging(["SESSION": session]) { $1 })
                    #expect(run.status == 0, "\(run.output)")
                    let seen = (try? String(contentsOfFile: seenFile, encoding: .utf8))?.split(separator: "\n") ?? []
                    #expect(seen.filter { $0 == "sk-loop-broken-0000001" }.count == 1, "\(seen)")
                }
                try database.connect().query(
                    "UPDATE provider_api_keys SET disabled_at = now() WHERE api_key LIKE 'sk-loop-works%'",
                    step: "only broken")
                let failing = try runTool(["python3", example, "hi"], environment: environment)
                #expect(failing.status == 1)
                let lastLine = failing.output.split(separator: "\n").last.map(String.init) ?? ""
                #expect(
                    lastLine.hasPrefix("error: no openai key answered (1 tried, the last with 500)"),
                    "\(failing.output)")
            }
        }
    }
}
