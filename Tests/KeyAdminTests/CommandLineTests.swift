import Foundation
import KeyStore
import TestSupport
import Testing

/// Every command end to end through the built binary, against a real server.
@Suite struct CommandLineTests {

    @Test func seedQuickStartWorks() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let added = try keyadmin(database, ["--add-provider", "OpenAI"])
            #expect(added.status == 0)
            #expect(added.result == "added provider openai\n")
            let keys = (1...10).map { "sk-proj-quickstart-\($0)-abcdef0123" }
            let bulk = try keyadmin(database, ["--add-bulk", "openai"], stdin: keys.joined(separator: "\n") + "\n")
            #expect(bulk.status == 0)
            #expect(bulk.result.hasPrefix("added 10 keys to openai (#1-#10)"))
            let list = try keyadmin(database, ["--list"])
            #expect(list.status == 0)
            #expect(list.stdout.contains("openai  (10 keys, all available)"))
            #expect(list.stdout.contains("sk-pr…0123"))
            for key in keys { #expect(!list.stdout.contains(key)) }
            #expect(!list.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")
            let revealed = try keyadmin(database, ["--list", "--provider", "openai", "--reveal"])
            for key in keys { #expect(revealed.stdout.contains(key)) }
        }
    }

    @Test func keyFromStdinStaysOutOfArgv() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let added = try keyadmin(database, ["--add-key", "openai", "-"], stdin: "  sk-from-stdin-0000000001\r\n")
            #expect(added.status == 0)
            #expect(added.result == "added key #1 to openai (sk-fr…0001)\n")
            let get = try keyadmin(database, ["--get-key", "openai", "1"])
            #expect(get.stdout == "sk-from-stdin-0000000001\n")
            let update = try keyadmin(
                database, ["--update-key", "openai", "1", "-"], stdin: "sk-replaced-via-stdin-02\n")
            #expect(update.status == 0)
            #expect(
                try database.values("SELECT api_key AS value FROM provider_api_keys") == ["sk-replaced-via-stdin-02"])
            let twoLines = try keyadmin(
                database, ["--add-key", "openai", "-"], stdin: "sk-one-aaaaaaaa\nsk-two-bbbbbbbb\n")
            #expect(twoLines.status == 2)
            let withBOM = try keyadmin(
                database, ["--add-key", "openai", "-"], stdin: "\u{FEFF}sk-saved-by-notepad-03\r\n")
            #expect(withBOM.result == "added key #2 to openai (sk-sa…d-03)\n", "\(withBOM.stderr)")
        }
    }

    @Test func bulkReportsSkippedLinesMaskedAndRefusesBadInputWhole() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            _ = try keyadmin(database, ["--add-key", "openai", "sk-stored-before-000001"])
            let input = "# comment\r\nsk-fresh-key-aaaa-0001\r\n\r\nsk-stored-before-000001\nsk-fresh-key-aaaa-0001\n"
            let bulk = try keyadmin(database, ["--add-bulk", "openai", "--json"], stdin: input)
            #expect(bulk.status == 0)
            let json = try JSONSerialization.jsonObject(with: Data(bulk.stdout.utf8)) as! [String: Any]
            #expect(json["added"] as? Int == 1)
            let skipped = json["skipped"] as! [[String: Any]]
            #expect(skipped.map { $0["line"] as? Int } == [4, 5])
            #expect(skipped.map { $0["reason"] as? String } == ["already_stored", "repeated_in_input"])
            #expect(!bulk.stdout.contains("sk-stored-before-000001"))

            let bad = try keyadmin(
                database, ["--add-bulk", "openai"],
                stdin: "sk-good-one-000000001\nsk-bad key-00002\nsk-good-two-000000003\n")
            #expect(bad.status == 2)
            #expect(bad.stderr.hasPrefix("error: invalid line 2: the key contains whitespace; nothing was stored"))
            #expect(!bad.stderr.contains("sk-bad"))
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 2)
        }
    }

    @Test func bulkReadsAFile() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString).txt")
            try (1...500).map { "sk-from-file-\($0)-0000" }.joined(separator: "\n").write(
                to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let bulk = try keyadmin(database, ["--add-bulk", "openai", "--file", file.path])
            #expect(bulk.result == "added 500 keys to openai (#1-#500)\n")
            let missing = try keyadmin(database, ["--add-bulk", "openai", "--file", "/nonexistent/keys.txt"])
            #expect(missing.status == 2)
            #expect(missing.stderr.contains("cannot open /nonexistent/keys.txt"))
        }
    }

    @Test func deleteProviderNeedsYesWithoutATerminal() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            _ = try keyadmin(database, ["--add-key", "openai", "sk-delete-me-0000001"])
            let refused = try keyadmin(database, ["--delete-provider", "openai"])
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("--yes"))
            #expect(try database.integer("SELECT count(*) AS value FROM providers") == 1)
            let deleted = try keyadmin(database, ["--delete-provider", "openai", "--yes"])
            #expect(deleted.status == 0)
            #expect(deleted.result == "deleted provider openai and its 1 key\n")
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 0)
        }
    }

    @Test func notFoundExitsThreeWithAHint() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let key = try keyadmin(database, ["--delete-key", "openai", "7", "--yes"])
            #expect(key.status == 3)
            #expect(key.error == "error: no key #7 for provider \"openai\" (see keyadmin --list --provider openai)\n")
            let provider = try keyadmin(database, ["--random-key", "anthropic"])
            #expect(provider.status == 3)
            #expect(provider.error == "error: no provider named \"anthropic\" (see keyadmin --list)\n")
        }
    }

    @Test func jsonOutputParses() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            _ = try keyadmin(database, ["--add-provider", "empty"])
            _ = try keyadmin(database, ["--add-key", "openai", "sk-json-key-\"quoted\"-01"])
            let list = try keyadmin(database, ["--list", "--json"])
            let document = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [String: Any]
            let providers = document["providers"] as! [[String: Any]]
            #expect(providers.map { $0["provider"] as? String } == ["empty", "openai"])
            #expect((providers[1]["keys"] as! [[String: Any]]).first?["key"] as? String == "sk-js…\"-01")
            let random = try keyadmin(database, ["--random-key", "openai", "--json"])
            let pick = try JSONSerialization.jsonObject(with: Data(random.stdout.utf8)) as! [String: Any]
            #expect(pick["key"] as? String == "sk-json-key-\"quoted\"-01")
        }
    }

    @Test func migrateThroughTheToolAndBeforeItEveryCommandSaysSo() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let early = try keyadmin(database, ["--list"])
            #expect(early.status == 1)
            #expect(
                early.error == "error: the KeyAdmin tables are not in this database (run keyadmin --migrate first)\n")
            let dry = try keyadmin(database, ["--migrate", "--dry-run"])
            let files = Migration.bundled.map(\.fileName)
            #expect(files.count >= 3)
            #expect(dry.result == files.map { "would apply \($0)\n" }.joined())
            let migrate = try keyadmin(database, ["--migrate"])
            #expect(migrate.result == files.map { "applied \($0)\n" }.joined())
            let again = try keyadmin(database, ["--migrate"])
            #expect(again.result == "the database is up to date (\(files.count) migrations applied)\n")
        }
    }

    @Test func concurrentAddKeyProcessesAllSucceedWithDistinctNumbers() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let statuses = Locked<[Int32]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { index in
                let status =
                    (try? keyadmin(database, ["--add-key", "openai", "sk-parallel-process-\(index)-xyz"]).status) ?? -1
                statuses.withLock { $0.append(status) }
            }
            #expect(statuses.withLock { $0 } == Array(repeating: 0, count: 8))
            #expect(
                try database.values(
                    "SELECT count(DISTINCT key_number) || '/' || max(key_number) AS value FROM provider_api_keys") == [
                        "8/8"
                    ])
        }
    }

    @Test func readsTheDatabaseFromDotEnvAndWarnsWhenOthersCanReadIt() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dotenv-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent(".env")
            try "export DATABASE_URL=\"\(database.connectionString)\"\n".write(
                to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
            let list = try KeyAdminProcess.run(["--list"], directory: directory)
            #expect(list.status == 0)
            #expect(list.stderr.contains("warning: .env can be read by other users"))
        }
    }

    /// Old servers and some poolers turn standard_conforming_strings off; backslashes in the
    /// migration and the tool's SQL must mean the same then.
    @Test func worksWithStandardConformingStringsOff() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let off = ["PGOPTIONS": "-c standard_conforming_strings=off"]
            #expect(try keyadmin(database, ["--migrate"], environment: off).status == 0)
            #expect(try keyadmin(database, ["--add-provider", "openai"], environment: off).status == 0)
            #expect(
                try keyadmin(database, ["--add-key", "openai", "sk-back\\slash-0001"], environment: off).status == 0)
            #expect(
                try keyadmin(database, ["--add-key", "openai", "sk-back\\slash-0001"], environment: off).status == 1)
            let bulk = try keyadmin(
                database, ["--add-bulk", "openai"], stdin: "sk-back\\slash-0001\nsk-two\\\\x-0002\n", environment: off)
            #expect(bulk.result.hasPrefix("added 1 key to openai (#2); skipped 1"))
            #expect(
                try database.values("SELECT api_key AS value FROM provider_api_keys ORDER BY key_number") == [
                    "sk-back\\slash-0001", "sk-two\\\\x-0002",
                ])
        }
    }

    @Test func helpAndVersionGoToStdout() throws {
        let help = try KeyAdminProcess.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--add-bulk PROVIDER"))
        #expect(help.stdout.contains("Exit codes"))
        let version = try KeyAdminProcess.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("keyadmin "))
        let twoCommands = try KeyAdminProcess.run(["--list", "--migrate"])
        #expect(twoCommands.status == 2)
        #expect(
            twoCommands.stderr
                == "error: one command at a time: --list and --migrate were both given (see keyadmin --help)\n")
    }
}
