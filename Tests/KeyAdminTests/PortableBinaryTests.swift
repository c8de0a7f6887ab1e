import Foundation
import TestSupport
import Testing

/// The binary that `swift build` makes runs on a machine without Swift: copied alone to an
/// empty directory and started with an empty environment, it needs only libpq and libc.
@Suite struct PortableBinaryTests {
    /// A copy of the built keyadmin, alone in a new directory.
    static func copiedBinary() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keyadmin-bare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let copy = directory.appendingPathComponent("keyadmin")
        try FileManager.default.copyItem(at: KeyAdminProcess.executable, to: copy)
        return copy
    }

    @Test func linksNoSwiftOrCxxRuntimeLibrary() throws {
        let binary = try Self.copiedBinary()
        defer { try? FileManager.default.removeItem(at: binary.deletingLastPathComponent()) }
        let (status, libraries) = try runTool(["ldd", binary.path])
        #expect(status == 0)
        #expect(libraries.contains("libpq.so"))
        // libcurl too: only --check loads it (dlopen), so no other command pays for it at start.
        for absent in ["libswift", "libFoundation", "libdispatch", "libstdc++", "libcurl", "not found"] {
            #expect(!libraries.contains(absent), "\(absent) in:\n\(libraries)")
        }
    }

    @Test func runsACommandWithAnEmptyEnvironment() throws {
        let binary = try Self.copiedBinary()
        defer { try? FileManager.default.removeItem(at: binary.deletingLastPathComponent()) }
        // No PATH, no LD_LIBRARY_PATH: only what libpq needs to reach the test server.
        let server = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("PG") }
        let version = try runTool(["-i", binary.path, "--version"], environment: [:])
        #expect(version.status == 0)
        #expect(version.output == "keyadmin 0.1.0\n")
        try TestDatabase.with { database in
            let listing = try runTool(
                ["-i"] + server.map { "\($0.key)=\($0.value)" }
                    + [binary.path, "--database-url", database.connectionString, "--list"],
                environment: [:])
            #expect(listing.status == 0, "\(listing.output)")
            #expect(listing.output.contains("no providers yet"))
        }
    }
}
