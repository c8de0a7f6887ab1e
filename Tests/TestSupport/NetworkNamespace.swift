import Foundation

/// Runs a shell script in a network namespace of its own (`unshare -n`), where the script gives
/// the loopback interface a second, non-loopback address. A server listening there is "on
/// another machine" as far as the tool can tell, and no packet leaves the namespace: tests
/// never send traffic to this machine's real addresses.
public enum NetworkNamespace {
    /// The address the namespace's loopback interface carries besides 127.0.0.1: from TEST-NET-2
    /// (RFC 5737), documentation only, so it can never be a real machine's address.
    public static let remoteAddress = "198.51.100.10"

    /// Whether this process may make a network namespace (`unshare -n`).
    public static var isAvailable: Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        return (try? runTool(["unshare", "-n", "true"]).status) == 0
    }

    /// Runs `script` with bash inside a fresh network namespace whose `lo` is up and also holds
    /// `remoteAddress`; returns its status and its output and errors together.
    public static func run(
        _ script: String, environment: [String: String] = [:]
    ) throws -> (status: Int32, output: String) {
        let prologue = """
            set -euo pipefail
            ip link set lo up
            ip addr add \(remoteAddress)/32 dev lo

            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-n", "/bin/bash", "-c", prologue + script]
        process.environment = ChildEnvironment.make(environment)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
