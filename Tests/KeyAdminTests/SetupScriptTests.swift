import Foundation
import TestSupport
import Testing

/// scripts/setup.sh migrates the database it set up, or refuses, naming the other one.
@Suite struct SetupScriptTests {
    static let scripts = repositoryRoot.appendingPathComponent("scripts")

    @Test func refusesWhenTheEnvironmentNamesAnotherDatabaseThanItsOwn() throws {
        let project = FileManager.default.temporaryDirectory.appendingPathComponent("setup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: project) }
        try FileManager.default.copyItem(at: Self.scripts, to: project.appendingPathComponent("scripts"))
        try
            "# Written by scripts/setup.sh: the local PostgreSQL in /nowhere\nDATABASE_URL=postgresql://postgres:x@localhost:54329/postgres\n"
            .write(to: project.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [project.appendingPathComponent("scripts/setup.sh").path]
        process.environment = ChildEnvironment.make([
            "DATABASE_URL": "postgresql://app:S3cret-pw@db.example.invalid:5432/someapp"
        ])
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(
            stderr.contains(
                "DATABASE_URL in the environment points to postgresql://app@db.example.invalid:5432/someapp"),
            "\(stderr)")
        #expect(!stderr.contains("S3cret-pw"))
        #expect(!stderr.contains("building"), "it refuses before building anything")
    }

    /// A copy of the project's scripts in a new directory, as another checkout would be.
    static func project(dotEnv: String?) throws -> URL {
        let project = FileManager.default.temporaryDirectory.appendingPathComponent("setup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.scripts, to: project.appendingPathComponent("scripts"))
        if let dotEnv {
            try dotEnv.write(to: project.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
        }
        return project
    }

    /// Runs setup.sh in `project`; its status, stdout and stderr. Through waitpid, not Process:
    /// the script leaves a PostgreSQL server running (see spawnAndWait).
    static func setup(
        _ project: URL, _ arguments: [String] = [], environment: [String: String] = [:]
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let output = project.appendingPathComponent("setup.out").path
        let errors = project.appendingPathComponent("setup.err").path
        let run = try spawnAndWait(
            ["/bin/bash", project.appendingPathComponent("scripts/setup.sh").path] + arguments,
            environment: ChildEnvironment.make(environment, unsetting: ["PGHOST", "PGDATABASE", "PGSERVICE"]),
            outputFile: output, errorFile: errors)
        return (run.status, run.output, run.errors)
    }

    @Test func refusesAnotherDatabaseOnItsOwnPort() throws {
        let project = try Self.project(
            dotEnv:
                "# Written by scripts/setup.sh: the local PostgreSQL in /nowhere\nDATABASE_URL=postgresql://postgres:x@localhost:54329/postgres\n"
        )
        defer { try? FileManager.default.removeItem(at: project) }
        let run = try Self.setup(
            project, environment: ["DATABASE_URL": "postgresql://postgres:x@localhost:54329/stale_app"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("points to postgresql://postgres@localhost:54329/stale_app"), "\(run.stderr)")
    }

    /// Set up twice, then removed: .env keeps the user's own lines throughout, the second run
    /// ends with a summary rather than every key, and --remove takes only what setup.sh made.
    @Test func keepsTheUsersLinesInDotEnvAndEndsWithASummary() throws {
        guard PrivateServer.isAvailable else { return }
        let project = try Self.project(dotEnv: "# my settings\nOPENAI_ORG=org-team-a\n")
        let data = project.appendingPathComponent("cluster/postgres")
        defer {
            _ = try? Self.setup(project, ["--stop"], environment: ["KEYADMIN_DATA_DIR": data.path])
            try? FileManager.default.removeItem(at: project)
        }
        let environment = [
            "KEYADMIN_DATA_DIR": data.path, "KEYADMIN_LOCAL_PORT": String(try freeTCPPort()),
            "KEYADMIN_BIN": KeyAdminProcess.executable.path,
        ]
        let first = try Self.setup(project, environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        let dotEnv = { (try? String(contentsOf: project.appendingPathComponent(".env"), encoding: .utf8)) ?? "" }
        #expect(
            dotEnv().hasPrefix("# my settings\nOPENAI_ORG=org-team-a\n# Written by scripts/setup.sh"), "\(dotEnv())")
        let url = try #require(dotEnv().split(separator: "\n").first { $0.hasPrefix("DATABASE_URL=") }?.dropFirst(13))
        let keys = (1...30).map { "sk-setup-summary-key-\($0)" }.joined(separator: "\n")
        _ = try KeyAdminProcess.run(["--database-url", String(url), "--add-provider", "openai"])
        #expect(
            try KeyAdminProcess.run(["--database-url", String(url), "--add-bulk", "openai"], stdin: keys).status == 0)

        let second = try Self.setup(project, environment: environment)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("openai  30 keys, all available"), "\(second.stdout)")
        #expect(!second.stdout.contains("sk-se"), "the summary lists no key")
        #expect(dotEnv().components(separatedBy: "DATABASE_URL=").count == 2, "one DATABASE_URL line")
        #expect(dotEnv().contains("OPENAI_ORG=org-team-a"))

        // Without the settings, .env says which cluster and port: the same one, keys and all.
        let bin = ["KEYADMIN_BIN": KeyAdminProcess.executable.path]
        let fromDotEnv = try Self.setup(project, environment: bin)
        #expect(fromDotEnv.status == 0, "\(fromDotEnv.stderr)")
        #expect(fromDotEnv.stdout.contains("openai  30 keys, all available"), "\(fromDotEnv.stdout)")
        // Settings that name another cluster are refused, and .env is left as it was.
        let before = dotEnv()
        let elsewhere = try Self.setup(
            project, environment: bin.merging(["KEYADMIN_DATA_DIR": data.path + "-other"]) { $1 })
        #expect(elsewhere.status != 0)
        #expect(elsewhere.stderr.contains(".env uses the local PostgreSQL in \(data.path), not"), "\(elsewhere.stderr)")
        #expect(dotEnv() == before)
        #expect(!FileManager.default.fileExists(atPath: data.path + "-other"))
        // --stop without the settings stops the cluster .env names.
        let stopped = try Self.setup(project, ["--stop"], environment: [:])
        #expect(stopped.stderr.contains("stopped the local PostgreSQL in \(data.path)"), "\(stopped.stderr)")

        let removed = try Self.setup(project, ["--remove"], environment: environment)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(dotEnv() == "# my settings\nOPENAI_ORG=org-team-a\n")
        #expect(!FileManager.default.fileExists(atPath: data.path))
    }

    @Test func removeRefusesWhileAnotherCheckoutUsesTheCluster() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: data) }
        let line =
            "# Written by scripts/setup.sh: the local PostgreSQL in \(data.path)\nDATABASE_URL=postgresql://x@localhost:54329/postgres\n"
        let ours = try Self.project(dotEnv: line)
        let theirs = try Self.project(dotEnv: line)
        defer {
            try? FileManager.default.removeItem(at: ours)
            try? FileManager.default.removeItem(at: theirs)
        }
        try "\(ours.path)\n\(theirs.path)\n".write(
            toFile: data.path + ".checkouts", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: data.path + ".checkouts") }
        try "15".write(to: data.appendingPathComponent("PG_VERSION"), atomically: true, encoding: .utf8)

        let refused = try Self.setup(ours, ["--remove"], environment: ["KEYADMIN_DATA_DIR": data.path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("another checkout uses the local PostgreSQL"), "\(refused.stderr)")
        #expect(refused.stderr.contains(theirs.path))
        // Refused before anything was done: not even a look at whether the server runs.
        #expect(!refused.stderr.contains("not running") && !refused.stderr.contains("stopped"), "\(refused.stderr)")
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("PG_VERSION").path))

        // Once the other checkout no longer uses it, the removal goes through.
        try "OTHER=1\n".write(to: theirs.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
        let removed = try Self.setup(ours, ["--remove"], environment: ["KEYADMIN_DATA_DIR": data.path])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data.path))
    }
}
