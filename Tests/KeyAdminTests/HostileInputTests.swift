import Foundation
import Postgres
import TestSupport
import Testing

/// Bad and careless input, across every command: each is refused with a non-zero exit and one
/// line on stderr, changes nothing, and shows no key or password.
@Suite struct HostileInputTests {
    enum Target: Sendable {
        case seeded, unmigrated, malformedURL, noServer, missingDatabase, wrongPassword
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        var stdin = Data()
        var target = Target.seeded
        let status: Int32
        var testDescription: String {
            let shown = arguments.map { $0.count > 40 ? String($0.prefix(40)) + "…" : $0 }.joined(separator: " ")
            return "\(target) \(shown.debugDescription)"
        }
    }

    static let seededKeys = ["sk-secret-seeded-key-000001", "sk-secret-seeded-key-000002"]
    static let passwords = ["Right-Pa55word-hostile", "Wrong-Pa55word-hostile", "Malformed-Pa55word"]

    static let cases: [Case] = [
        // Provider names
        Case(arguments: ["--add-provider", ""], status: 2),
        Case(arguments: ["--add-provider", String(repeating: "n", count: 65)], status: 2),
        Case(arguments: ["--add-provider", "Ünïcode"], status: 2),
        Case(arguments: ["--add-provider", "open ai"], status: 2),
        Case(arguments: ["--add-provider", "openai'; DROP TABLE providers; --"], status: 2),
        Case(arguments: ["--add-provider", "OpenAI"], status: 1),  // mixed case: the same provider, which exists
        Case(arguments: ["--delete-key", "openai;--", "1"], status: 2),
        Case(arguments: ["--add-key", "Öpenai", "sk-valid-key-00000099"], status: 2),
        // Keys
        Case(arguments: ["--add-key", "openai", ""], status: 2),
        Case(arguments: ["--add-key", "openai", "   "], status: 2),
        Case(arguments: ["--add-key", "openai", "sk-key with spaces"], status: 2),
        Case(arguments: ["--add-key", "openai", "sk-new\nline"], status: 2),
        Case(arguments: ["--add-key", "openai", "sk-\u{7}bell-0001"], status: 2),
        Case(arguments: ["--add-key", "openai", "sk-'; DELETE FROM provider_api_keys; --"], status: 2),
        Case(arguments: ["--add-key", "openai", "-"], stdin: Data("sk-nul\u{0}key-0001\n".utf8), status: 2),
        Case(arguments: ["--add-key", "openai", String(repeating: "k", count: 20_000)], status: 2),
        Case(arguments: ["--add-key", "openai", seededKeys[0]], status: 1),  // already stored
        Case(arguments: ["--add-key", "nobody", "sk-valid-key-00000099"], status: 3),
        Case(arguments: ["--update-key", "openai", "1", "-"], stdin: Data(), status: 2),
        Case(arguments: ["--update-key", "openai", "1", seededKeys[1]], status: 1),
        // Numbers
        Case(arguments: ["--update-key", "openai", "0", "sk-valid-key-new01"], status: 2),
        Case(arguments: ["--update-key", "openai", "-1", "sk-valid-key-new01"], status: 2),
        Case(arguments: ["--update-key", "openai", "abc", "sk-valid-key-new01"], status: 2),
        Case(arguments: ["--update-key", "openai", "99999999999999999999", "sk-valid-key-new01"], status: 2),
        Case(arguments: ["--update-key", "openai", "99", "sk-valid-key-new01"], status: 3),
        Case(arguments: ["--delete-key", "openai", "0"], status: 2),
        Case(arguments: ["--delete-key", "openai", "1.5"], status: 2),
        Case(arguments: ["--delete-key", "openai", "42", "--yes"], status: 3),
        Case(arguments: ["--get-key", "openai", "0"], status: 2),
        Case(arguments: ["--get-key", "openai", "77"], status: 3),
        // Unknown providers
        Case(arguments: ["--delete-provider", "nobody", "--yes"], status: 3),
        Case(arguments: ["--random-key", "nobody"], status: 3),
        Case(arguments: ["--list", "--provider", "nobody"], status: 3),
        Case(arguments: ["--delete-provider", "openai"], status: 2),  // no terminal, no --yes
        // Bulk input
        Case(
            arguments: ["--add-bulk", "openai"], stdin: Data([0x73, 0x6B, 0x2D, 0xC3, 0x28, 0x61, 0x62, 0x63, 0x0A]),
            status: 2),
        Case(
            arguments: ["--add-bulk", "openai"],
            stdin: Data(((1...999).map { "sk-bulk-fine-\($0)-abcdef" } + ["sk-bulk bad"]).joined(separator: "\n").utf8),
            status: 2),
        Case(arguments: ["--add-bulk", "nobody"], stdin: Data("sk-valid-key-00000099\n".utf8), status: 3),
        Case(arguments: ["--add-bulk", "openai", "--file", "/etc"], status: 2),
        // Usage
        Case(arguments: ["--add-key", "openai", "sk-valid-key-00000099", "--delete-key", "openai", "1"], status: 2),
        Case(arguments: ["--list", "--migrate"], status: 2),
        Case(arguments: ["--add-key", "openai"], status: 2),
        // Connections and schema
        Case(arguments: ["--list"], target: .malformedURL, status: 1),
        Case(arguments: ["--list"], target: .noServer, status: 1),
        Case(arguments: ["--list"], target: .missingDatabase, status: 1),
        Case(arguments: ["--add-key", "openai", "sk-valid-key-00000099"], target: .wrongPassword, status: 1),
        Case(arguments: ["--add-provider", "openai"], target: .unmigrated, status: 1),
        Case(arguments: ["--random-key", "openai"], target: .unmigrated, status: 1),
    ]

    static let hostileRole: Result<String, Error> = Result {
        let role = "keyadmin_hostile_\(getpid())"
        try TestServer.adminConnection().execute(
            SQLScript(
                trustedSQL: """
                    DROP ROLE IF EXISTS \(role);
                    CREATE ROLE \(role) LOGIN PASSWORD '\(passwords[0])';
                    """), step: "creating a role with a password")
        atexit {
            _ = try? TestServer.adminConnection().execute(
                SQLScript(trustedSQL: "DROP ROLE IF EXISTS keyadmin_hostile_\(getpid())"), step: "dropping the role")
        }
        return role
    }

    func url(for target: Target, database: TestDatabase) throws -> String {
        switch target {
        case .seeded, .unmigrated: return database.connectionString
        case .malformedURL: return "postgresql://someone:\(Self.passwords[2])@[::1:5432/db"
        case .noServer: return "postgresql://someone:\(Self.passwords[2])@127.0.0.1:1/db?connect_timeout=3"
        case .missingDatabase:
            return try TestServer.settings.connectionString(withDatabase: "no_such_database_\(getpid())")
        case .wrongPassword:
            return database.connectionString
                + " host=127.0.0.1 user=\(try Self.hostileRole.get()) password=\(Self.passwords[1])"
        }
    }

    @Test(arguments: cases)
    func badInputIsRefusedInOneLineAndChangesNothing(_ hostile: Case) throws {
        try TestDatabase.with(migrated: hostile.target != .unmigrated) { (database: TestDatabase) throws in
            let snapshot: Query = """
                SELECT coalesce((SELECT string_agg(provider_name, ',' ORDER BY id) FROM providers), '') || '|' ||
                       coalesce((SELECT string_agg(provider_id || ':' || key_number || ':' || api_key, ',' ORDER BY id) FROM provider_api_keys), '')
                       AS value
                """
            if hostile.target != .unmigrated {
                _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
                _ = try KeyAdminProcess.run(
                    ["--database-url", database.connectionString, "--add-bulk", "openai"],
                    stdin: Self.seededKeys.joined(separator: "\n"))
            }
            let before = hostile.target == .unmigrated ? [] : try database.values(snapshot)
            let output = try KeyAdminProcess.run(
                ["--database-url", try url(for: hostile.target, database: database)] + hostile.arguments,
                stdinData: hostile.stdin)

            #expect(output.status == hostile.status, "stderr: \(output.stderr)")
            let lines = output.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count == 1, "stderr: \(output.stderr)")
            #expect(output.stderr.hasPrefix("error: "))
            #expect(output.stdout.isEmpty)
            for secret in Self.seededKeys + Self.passwords {
                #expect(!output.stderr.contains(secret) && !output.stdout.contains(secret), "leaked \(secret)")
            }
            if hostile.target == .unmigrated {
                #expect(try database.values("SELECT to_regclass('public.providers')::text AS value") == [nil])
            } else {
                #expect(try database.values(snapshot) == before)
            }
        }
    }

    /// A DBA's own CHECK constraint refuses the key: PostgreSQL's DETAIL quotes the whole row,
    /// key included (psql shows it). keyadmin reports the constraint and never the DETAIL.
    @Test func aServerErrorsDetailNeverReachesTheTerminal() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let key = "sk-longer-than-the-dbas-limit-0123456789"
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        INSERT INTO providers (provider_name) VALUES ('openai');
                        ALTER TABLE provider_api_keys ADD CONSTRAINT dba_short_keys CHECK (char_length(api_key) <= 24);
                        """), step: "a DBA's constraint")
            let psql = try runPsqlCommand(
                "INSERT INTO provider_api_keys (provider_id, key_number, api_key) VALUES (1, 1, '\(key)')",
                on: database)
            #expect(psql.contains("DETAIL:") && psql.contains(key), "the DETAIL no longer quotes the row: \(psql)")
            for arguments in [["--add-key", "openai", key], ["--add-key", "openai", "-"]] {
                let output = try KeyAdminProcess.run(
                    ["--database-url", database.connectionString] + arguments, stdin: key + "\n")
                #expect(output.status != 0)
                #expect(
                    output.stderr.hasPrefix("error: ") && output.stderr.contains("dba_short_keys"), "\(output.stderr)")
                #expect(output.stderr.split(separator: "\n").count == 1, "\(output.stderr)")
                #expect(!output.stderr.contains(key) && !output.stdout.contains(key))
            }
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 0)
        }
    }

    @Test func sqlInKeysAndNamesIsStoredAsData() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let key = "sk-';DELETE/**/FROM/**/provider_api_keys;--"
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "x.y_z-1"])
            let added = try KeyAdminProcess.run([
                "--database-url", database.connectionString, "--add-key", "x.y_z-1", key,
            ])
            #expect(added.status == 0)
            #expect(try database.values("SELECT api_key AS value FROM provider_api_keys") == [key])
        }
    }
}
