import Foundation

/// Runs `keyadmin` on a pseudo-terminal (through util-linux's `script`), answering its prompts
/// as an operator would: each reply is typed only once its prompt has appeared, after the tool
/// had its chance to turn echo off.
public enum TerminalSession {
    /// Whether `script(1)` is here to give the child a terminal.
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/script") }

    /// Each reply is typed followed by a newline; "\u{04}" (Ctrl-D) at the start of a line is
    /// the end of input. A session still running after `timeout` is killed, and its output then
    /// ends with "[killed after timeout]", so a tool waiting for input fails the test instead of
    /// hanging it. `whilePrompted` runs once each prompt has appeared, before its reply: what
    /// another operator does while this one reads the question.
    public static func run(
        _ arguments: [String], answers: [(prompt: String, reply: String)], environment: [String: String] = [:],
        timeout: Duration = .seconds(20), whilePrompted: (_ prompt: String) throws -> Void = { _ in }
    ) throws -> (status: Int32, output: String) {
        let command = ([KeyAdminProcess.executable.path] + arguments).map(shellQuoted).joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        process.environment = ChildEnvironment.make(["TERM": "xterm"].merging(environment) { $1 })
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let killed = Locked(false)
        let seconds = Double(timeout.components.seconds)
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [process] in
            guard process.isRunning else { return }
            killed.withLock { $0 = true }
            kill(-process.processIdentifier, SIGKILL)
            process.terminate()
        }
        var seen = Data()
        for answer in answers {
            while !String(decoding: seen, as: UTF8.self).contains(answer.prompt) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen += chunk
            }
            try whilePrompted(answer.prompt)
            try input.fileHandleForWriting.write(contentsOf: Data((answer.reply + "\n").utf8))
        }
        seen += output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        let suffix = killed.withLock { $0 } ? "[killed after timeout]" : ""
        return (process.terminationStatus, String(decoding: seen, as: UTF8.self) + suffix)
    }

    private static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
