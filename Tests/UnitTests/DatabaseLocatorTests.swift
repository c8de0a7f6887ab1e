import Foundation
import Testing

@testable import KeyStore

@Suite struct DatabaseLocatorTests {
    func withDotEnv(_ text: String?, mode: Int = 0o600, _ body: (String) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("env-\(UUID().uuidString)").path
        if let text {
            _ = FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    @Test func commandLineWinsOverEverything() throws {
        try withDotEnv("DATABASE_URL=postgresql://file/db") { (path: String) throws in
            let locator = DatabaseLocator(environment: ["DATABASE_URL": "postgresql://env/db"], dotEnvPath: path)
            #expect(try locator.locate(commandLineURL: "host=cli").connectionString == "host=cli")
        }
    }

    @Test func worker1DatabaseURLBeatsDatabaseURLAndEnvironmentBeatsFile() throws {
        try withDotEnv("WORKER_1_DATABASE_URL=postgresql://file/one") { (path: String) throws in
            let both = DatabaseLocator(
                environment: ["DATABASE_URL": "postgresql://env/db", "WORKER_1_DATABASE_URL": "postgresql://env/one"],
                dotEnvPath: path)
            #expect(try both.locate(commandLineURL: nil).connectionString == "postgresql://env/one")
            let environmentOnly = DatabaseLocator(
                environment: ["DATABASE_URL": "postgresql://env/db"], dotEnvPath: path)
            #expect(try environmentOnly.locate(commandLineURL: nil).connectionString == "postgresql://env/db")
            let fileOnly = DatabaseLocator(environment: [:], dotEnvPath: path)
            #expect(try fileOnly.locate(commandLineURL: nil).source == "WORKER_1_DATABASE_URL from \(path)")
        }
    }

    @Test func warnsWhenBothVariablesNameDifferentDatabases() throws {
        try withDotEnv(nil) { (path: String) throws in
            let both = DatabaseLocator(
                environment: ["WORKER_1_DATABASE_URL": "postgresql://h/one", "DATABASE_URL": "postgresql://h/two"],
                dotEnvPath: path)
            let located = try both.locate(commandLineURL: nil)
            #expect(located.connectionString == "postgresql://h/one")
            #expect(
                located.warnings == [
                    "using WORKER_1_DATABASE_URL, not DATABASE_URL, which is also set in the environment and names another database (unset one of them)"
                ])
            let same = DatabaseLocator(
                environment: ["WORKER_1_DATABASE_URL": "postgresql://h/one", "DATABASE_URL": "postgresql://h/one"],
                dotEnvPath: path)
            #expect(try same.locate(commandLineURL: nil).warnings.isEmpty)
        }
        try withDotEnv("WORKER_1_DATABASE_URL=postgresql://h/one\nDATABASE_URL=postgresql://h/two\n") { path in
            let located = try DatabaseLocator(environment: [:], dotEnvPath: path).locate(commandLineURL: nil)
            #expect(located.warnings.count == 1)
            #expect(located.warnings.first?.contains("also sets to another database") == true)
        }
    }

    /// `DATABASE_URL=` left empty (a template not filled in) falls back to libpq's defaults, and
    /// says so instead of connecting somewhere unannounced.
    @Test func anEmptyVariableIsNamedWhenLibpqsDefaultsAreUsed() throws {
        try withDotEnv("DATABASE_URL=\n") { (path: String) throws in
            let fromFile = try DatabaseLocator(environment: [:], dotEnvPath: path).locate(commandLineURL: nil)
            #expect(fromFile.source == "libpq defaults")
            #expect(
                fromFile.warnings == ["DATABASE_URL is empty in \(path); using libpq's defaults (PGHOST and the rest)"])
            let fromEnvironment = try DatabaseLocator(environment: ["WORKER_1_DATABASE_URL": ""], dotEnvPath: path)
                .locate(commandLineURL: nil)
            #expect(
                fromEnvironment.warnings.contains(
                    "WORKER_1_DATABASE_URL is set but empty; using libpq's defaults (PGHOST and the rest)"))
        }
        try withDotEnv("DATABASE_URL=postgresql://file/db\n") { (path: String) throws in
            #expect(try DatabaseLocator(environment: [:], dotEnvPath: path).locate(commandLineURL: nil).warnings == [])
        }
    }

    @Test func fallsBackToLibpqDefaults() throws {
        try withDotEnv(nil) { (path: String) throws in
            #expect(
                try DatabaseLocator(environment: [:], dotEnvPath: path).locate(commandLineURL: nil).connectionString
                    == "")
        }
    }

    @Test func explainsThatTheProjectURLIsNotAConnectionString() throws {
        try withDotEnv("WORKER_1_URL=https://abc.supabase.co") { (path: String) throws in
            #expect {
                _ = try DatabaseLocator(environment: [:], dotEnvPath: path).locate(commandLineURL: nil)
            } throws: { error in
                guard case .notConfigured(let message, let hint) = error as! KeyStoreError else { return false }
                return message.contains("WORKER_1_URL") && hint.contains("WORKER_1_DATABASE_URL")
            }
        }
    }

    @Test func warnsWhenTheFileIsReadableByOthers() throws {
        try withDotEnv("DATABASE_URL=postgresql://u:p@h/db", mode: 0o644) { (path: String) throws in
            let located = try DatabaseLocator(environment: [:], dotEnvPath: path).locate(commandLineURL: nil)
            #expect(located.warnings.count == 1)
            #expect(located.warnings.first?.contains("chmod 600") == true)
        }
        try withDotEnv("DATABASE_URL=postgresql://u:p@h/db", mode: 0o600) { (path: String) throws in
            #expect(
                try DatabaseLocator(environment: [:], dotEnvPath: path).locate(commandLineURL: nil).warnings.isEmpty)
        }
    }
}
