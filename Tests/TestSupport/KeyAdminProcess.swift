import Foundation

/// Runs the built `keyadmin` binary, as an operator would.
public struct KeyAdminProcess {
    /// What a finished keyadmin process left.
    public struct Output: Sendable {
        /// Its exit status.
        public let status: Int32
        /// Everything it wrote to stdout.
        public let stdout: String
        /// Everything it wrote to stderr.
        public let stderr: String

        /// stdout without the "database: ..." line that opens every human-readable result.
        public var result: String {
            guard stdout.hasPrefix("database: "), let newline = stdout.firstIndex(of: "\n") else { return stdout }
            return String(stdout[stdout.index(after: newline)...])
        }

        /// stderr without the " [database ...]" that ends every error after connecting.
        public var error: String {
            stderr.replacing(#/ \[database [^\]]*\]/#, with: "")
        }
    }

    /// The binary SwiftPM built next to this test bundle.
    public static let executable: URL = {
        let runner = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return runner.deletingLastPathComponent().appendingPathComponent("keyadmin")
    }()

    /// A child that exits without reading its stdin (it refused its arguments first) closes
    /// the pipe; writing to it must be an error the writer ignores, not a SIGPIPE that kills
    /// the whole test run.
    private static let brokenPipesAreErrors: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Runs `keyadmin arguments...` in an empty temporary directory (so no .env applies), with
    /// the database variables cleared unless `environment` sets them.
    public static func run(
        _ arguments: [String], stdin: String? = nil, stdinData: Data? = nil,
        environment: [String: String] = [:], unsetting: [String] = [], directory: URL? = nil
    ) throws -> Output {
        Self.brokenPipesAreErrors
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ChildEnvironment.make(environment, unsetting: unsetting)
        let workingDirectory =
            directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("keyadmin-cwd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
        process.currentDirectoryURL = workingDirectory
        let input = Pipe()
        let output = Pipe()
        let error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let data = stdinData ?? stdin.map { Data($0.utf8) } ?? Data()
        // Feed stdin and drain stderr on other threads, so that no pipe fills up and blocks.
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            try? input.fileHandleForWriting.write(contentsOf: data)
            try? input.fileHandleForWriting.close()
        }
        let errorData = Locked(Data())
        DispatchQueue.global().async(group: group) {
            let data = error.fileHandleForReading.readDataToEndOfFile()
            errorData.withLock { $0 = data }
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        group.wait()
        if directory == nil { try? FileManager.default.removeItem(at: workingDirectory) }
        return Output(
            status: process.terminationStatus,
            stdout: String(decoding: outputData, as: UTF8.self),
            stderr: errorData.withLock { String(decoding: $0, as: UTF8.self) })
    }
}

/// Runs `keyadmin --database-url URL arguments...` as `actor` (KEYADMIN_ACTOR, for the audit
/// trail; `nil` leaves the default, user@host): the one way the suites run the tool on a test
/// database.
public func keyadmin(
    _ url: String, _ arguments: [String], stdin: String? = nil, actor: String? = "ops@test",
    environment: [String: String] = [:]
) throws -> KeyAdminProcess.Output {
    let identity = actor.map { ["KEYADMIN_ACTOR": $0] } ?? [:]
    return try KeyAdminProcess.run(
        ["--database-url", url] + arguments, stdin: stdin, environment: identity.merging(environment) { $1 })
}

/// `keyadmin(database.connectionString, ...)`.
public func keyadmin(
    _ database: TestDatabase, _ arguments: [String], stdin: String? = nil, actor: String? = "ops@test",
    environment: [String: String] = [:]
) throws -> KeyAdminProcess.Output {
    try keyadmin(database.connectionString, arguments, stdin: stdin, actor: actor, environment: environment)
}

extension TestDatabase {
    /// A provider "solo" with keys #1 and #2.
    public static func withSolo(_ body: (TestDatabase) throws -> Void) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "solo"])
            let added = try keyadmin(
                database, ["--add-bulk", "solo"], stdin: "sk-solo-key-0000000001\nsk-solo-key-0000000002\n")
            guard added.status == 0 else { throw TestSupportError("adding solo's keys failed: \(added.stderr)") }
            try body(database)
        }
    }
}

/// The repository's root directory (where Package.swift is), for tests that read its files or
/// run its scripts.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A `keyadmin` process still running, for tests that interrupt or kill it.
public final class RunningKeyAdmin {
    private let process = Process()
    private let output = Pipe()
    private let error = Pipe()

    /// Starts `keyadmin arguments...` and returns at once.
    public init(_ arguments: [String]) throws {
        process.executableURL = KeyAdminProcess.executable
        process.arguments = arguments
        process.environment = ChildEnvironment.make()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = error
        try process.run()
    }

    /// The child's process id.
    public var processIdentifier: Int32 { process.processIdentifier }
    /// Whether it has not exited yet.
    public var isRunning: Bool { process.isRunning }

    /// Sends it a signal (SIGINT, SIGKILL...).
    public func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for it to exit and returns what it left. stderr drains on another thread while
    /// stdout is read: a child that fills the stderr pipe first would otherwise block on it
    /// while this waits for stdout to end.
    public func wait() -> KeyAdminProcess.Output {
        let errorData = Locked(Data())
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { [error] in
            let data = error.fileHandleForReading.readDataToEndOfFile()
            errorData.withLock { $0 = data }
        }
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let stderr = errorData.withLock { $0 }
        process.waitUntilExit()
        let status =
            process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return KeyAdminProcess.Output(
            status: status, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}
