import Foundation
import TestSupport
import Testing

/// What keeps a tired operator from hurting themselves: the database named, keys never echoed,
/// deletes shown and undoable, output scripts can trust.
@Suite struct OperatorSafetyTests {

    func seeded(_ body: (TestDatabase) throws -> Void) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            _ = try keyadmin(database, ["--add-key", "openai", "sk-seeded-key-00000001"])
            try body(database)
        }
    }

    @Test func everyResultAndErrorNamesTheDatabaseAndWhereItCameFrom() throws {
        try seeded { database in
            let name = try #require(database.connectionString.firstMatch(of: #/dbname='([^']+)'/#)).1
            let added = try keyadmin(database, ["--add-provider", "groq"])
            #expect(added.stdout.hasPrefix("database: "))
            #expect(
                added.stdout.split(separator: "\n").first?.hasSuffix("/\(name) (--database-url)") == true,
                "\(added.stdout)")
            let missing = try keyadmin(database, ["--get-key", "openai", "9"])
            #expect(missing.stderr.hasSuffix("/\(name) (--database-url)]\n"), "\(missing.stderr)")
            let json = try keyadmin(database, ["--list", "--json"])
            let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect((document?["database"] as? String)?.hasSuffix("/\(name)") == true)
            #expect(document?["database_source"] as? String == "--database-url")

            // .env in the current directory, and a stale variable in the shell that beats it.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("env-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let dotEnv = directory.appendingPathComponent(".env")
            try "DATABASE_URL=\"\(database.connectionString)\"\n".write(to: dotEnv, atomically: true, encoding: .utf8)
            chmod(dotEnv.path, 0o600)
            let fromFile = try KeyAdminProcess.run(["--list"], directory: directory)
            #expect(fromFile.stdout.hasPrefix("database: "), "\(fromFile.stderr)")
            #expect(fromFile.stdout.split(separator: "\n").first?.hasSuffix("(DATABASE_URL from .env)") == true)
            let stale = try KeyAdminProcess.run(
                ["--list"],
                environment: ["WORKER_1_DATABASE_URL": database.connectionString + " application_name=stale"],
                directory: directory)
            #expect(
                stale.stderr.contains(
                    "warning: using WORKER_1_DATABASE_URL from the environment, not DATABASE_URL from .env"))
            #expect(
                stale.stdout.split(separator: "\n").first?.hasSuffix("(WORKER_1_DATABASE_URL from the environment)")
                    == true)
        }
    }

    /// An API key pasted as the database or user name is masked in the database line and the
    /// error; the host and port stay, so the operator still sees where it went.
    @Test(arguments: [
        "postgresql://postgres@127.0.0.1:1/sk-proj-AbCdEf0123456789xyzXYZ?connect_timeout=5",
        "host=127.0.0.1 port=1 user=sk-proj-AbCdEf0123456789xyzXYZ connect_timeout=5",
    ])
    func aKeyShapedDatabaseOrUserIsNeverShown(_ url: String) throws {
        // Without PGDATABASE (pg_virtualenv sets one), libpq defaults the database to the user.
        let output = try KeyAdminProcess.run(["--database-url", url, "--list"], unsetting: ["PGDATABASE"])
        #expect(output.status != 0)
        #expect(!output.stderr.contains("AbCdEf0123456789"), "\(output.stderr)")
        #expect(output.stderr.contains("127.0.0.1:1/********"), "\(output.stderr)")
    }

    /// One rule for every command that deletes: without a terminal (a pipe, cron, CI) and
    /// without --yes it refuses with exit 2 and deletes nothing.
    @Test(arguments: [
        ["--delete-key", "openai", "1"], ["--prune-history", "--before", "2020-01-01T00:00:00Z"],
        ["--delete-provider", "openai"],
    ])
    func deletingWithoutATerminalNeedsYes(_ arguments: [String]) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            _ = try KeyAdminProcess.run([
                "--database-url", database.connectionString, "--add-key", "openai", "sk-confirm-key-000001",
            ])
            try database.connect().query(
                "UPDATE keyadmin.key_events SET occurred_at = '2019-01-01T00:00:00Z'", step: "old events")
            func counts() throws -> [String?] {
                try database.values(
                    "SELECT (SELECT count(*) FROM provider_api_keys) || '/' || (SELECT count(*) FROM keyadmin.key_events) AS value"
                )
            }
            let before = try counts()
            let refused = try KeyAdminProcess.run(["--database-url", database.connectionString] + arguments)
            #expect(refused.status == 2, "\(refused.stderr)")
            #expect(
                refused.stderr.contains("needs confirmation") && refused.stderr.contains("--yes"), "\(refused.stderr)")
            #expect(try counts() == before)
            let confirmed = try KeyAdminProcess.run(
                ["--database-url", database.connectionString] + arguments + ["--yes"])
            #expect(confirmed.status == 0, "\(confirmed.stderr)")
            #expect(try counts() != before)
        }
    }

    @Test func withNoConfigurationAtAllTheErrorSaysSo() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let libpqVariables = [
            "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSERVICE",
            "PGPASSFILE", "PGSERVICEFILE", "PGSYSCONFDIR",
        ]
        // A user name no server has, so that even a server on the default socket refuses it.
        let output = try KeyAdminProcess.run(
            ["--list"], environment: ["HOME": home.path, "USER": "keyadmin_nobody", "LOGNAME": "keyadmin_nobody"],
            unsetting: libpqVariables)
        #expect(output.status == 1)
        #expect(output.stderr.hasPrefix("error: no database is configured"), "\(output.stderr)")
        #expect(output.stderr.contains("DATABASE_URL"))
    }

    @Test func jsonIsOneWholeDocumentOrNothing() throws {
        try seeded { database in
            for arguments in [
                ["--list", "--provider", "nope"], ["--add-key", "nobody", "sk-some-key-000000009"],
                ["--get-key", "openai", "5"], ["--list", "--provider", "openai", "--statement-timeout", "0.001"],
            ] {
                let failed = try keyadmin(database, arguments + ["--json"])
                #expect(failed.status != 0)
                #expect(failed.stdout.isEmpty, "\(arguments): \(failed.stdout)")
                #expect(failed.stderr.hasPrefix("error: "))
            }
            for arguments in [
                ["--list"], ["--add-provider", "mistral"], ["--add-key", "openai", "sk-json-key-000000002"],
                ["--delete-key", "openai", "2", "--yes"], ["--migrate"], ["--get-key", "openai", "1"],
            ] {
                let done = try keyadmin(database, arguments + ["--json"])
                #expect(done.status == 0, "\(arguments): \(done.stderr)")
                let document = try? JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [String: Any]
                #expect(document != nil, "\(arguments): \(done.stdout)")
                // Every document names the database and the setting that chose it.
                #expect((document?["database"] as? String)?.hasSuffix("/\(database.name)") == true, "\(arguments)")
                #expect(document?["database_source"] as? String == "--database-url", "\(arguments)")
            }
        }
    }

    @Test func emptyPoolsAndEmptyInputHaveTheirOwnExitCodes() throws {
        try seeded { database in
            _ = try keyadmin(database, ["--add-provider", "empty"])
            let random = try keyadmin(database, ["--random-key", "empty"])
            #expect(random.status == 3)
            #expect(random.error == "error: provider \"empty\" has no keys (add one with keyadmin --add-key empty -)\n")
            for input in ["", "\n\n", "# only a comment\n\n"] {
                let bulk = try keyadmin(database, ["--add-bulk", "openai"], stdin: input)
                #expect(bulk.status == 2)
                #expect(bulk.stderr.hasPrefix("error: no keys in the input; nothing was changed"))
            }
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 1)
        }
    }

    @Test func aDeletedKeyIsShownAndCanBePutBackUnderItsNumber() throws {
        try seeded { database in
            let deleted = try keyadmin(database, ["--delete-key", "openai", "1", "--yes"])
            #expect(deleted.status == 0)
            #expect(deleted.result.hasPrefix("deleted key #1 of openai (sk-se…0001)"), "\(deleted.stdout)")
            #expect(!deleted.stdout.contains("sk-seeded-key-00000001"))
            let plain = try keyadmin(database, ["--add-key", "openai", "sk-another-key-000000002"])
            #expect(
                plain.result == "added key #2 to openai (sk-an…0002)\n", "a deleted number is not given to another key")
            let back = try keyadmin(
                database, ["--add-key", "openai", "-", "--number", "1"], stdin: "sk-seeded-key-00000001\n")
            #expect(back.result == "added key #1 to openai (sk-se…0001)\n", "\(back.stderr)")
            #expect(try keyadmin(database, ["--get-key", "openai", "1"]).stdout == "sk-seeded-key-00000001\n")
            let taken = try keyadmin(database, ["--add-key", "openai", "sk-third-key-000000003", "--number", "#2"])
            #expect(taken.status == 1)
            #expect(taken.error.hasPrefix("error: key #2 of openai is taken"))
            let above = try keyadmin(database, ["--add-key", "openai", "sk-fourth-key-00000004", "--number", "10"])
            #expect(above.result == "added key #10 to openai (sk-fo…0004)\n")
            let next = try keyadmin(database, ["--add-key", "openai", "sk-fifth-key-000000005"])
            #expect(
                next.result == "added key #11 to openai (sk-fi…0005)\n", "a number above the highest moves the highest")
            let twice = try keyadmin(database, ["--add-key", "openai", "sk-fifth-key-000000005", "--number", "3"])
            #expect(twice.error == "error: that key is already stored for openai as #11\n")
        }
    }

    /// Every command, with its values in every order and a key among them, against a real
    /// database: no output anywhere shows the key, whether the command fails or succeeds.
    @Test func noCommandEchoesAKeyWhateverTheOrderOfItsArguments() throws {
        let key = "sk-proj-UUUUvvvvWWWW2222xxxxYYYYzzzz"
        try seeded { database in
            for command in [
                "--add-provider", "--add-key", "--add-bulk", "--update-key", "--delete-key", "--delete-provider",
                "--list", "--migrate",
            ] {
                let others = ["openai", "1"]
                for count in 0...3 {
                    var values = Array(others.prefix(max(0, count - 1)))
                    for position in 0...values.count {
                        values.insert(key, at: position)
                        let output = try keyadmin(database, [command] + values + ["--yes"], stdin: "")
                        let all = output.stdout + output.stderr
                        #expect(
                            !all.contains(key) && !all.lowercased().contains(key.lowercased().prefix(10)),
                            "\(command) \(values): \(all)")
                        values.remove(at: position)
                    }
                }
            }
            let listed = try keyadmin(database, ["--list"])
            #expect(!listed.stdout.contains(key))
        }
    }
}
