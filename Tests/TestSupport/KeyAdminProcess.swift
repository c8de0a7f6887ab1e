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

    /// Waits for it to exit and returns what it left.
    public func wait() -> KeyAdminProcess.Output {
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let status =
            process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return KeyAdminProcess.Output(
            status: status, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}
