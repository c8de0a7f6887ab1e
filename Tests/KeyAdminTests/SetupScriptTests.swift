import Foundation
import TestSupport
import Testing

/// scripts/setup.sh migrates the database it set up, or refuses, naming the other one.
@Suite struct SetupScriptTests {
    static let scripts = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts")

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
}
