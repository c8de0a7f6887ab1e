import Foundation
import Postgres
import TestSupport
import Testing

/// What operators read: one-line errors, JSON on request, doctor's findings and fixes.
@Suite struct OperatorMessageTests {
    @Test func bulkErrorsNameEachLineWithItsReasonInPlainNumbers() throws {
        try TestDatabase.withSolo { database in
            var lines = (1...15).map { "sk-bulk-message-key-\($0)" }
            lines[1] = "sk has a space"
            lines[2] = "short"
            lines[5] = "\"sk-quoted-key-000001\""
            for index in 7...14 { lines[index] = "bad key \(index)" }
            let output = try keyadmin(database, ["--add-bulk", "solo"], stdin: lines.joined(separator: "\n"))
            #expect(output.status == 2)
            #expect(
                output.error.hasPrefix(
                    "error: 11 invalid lines: line 2: the key contains whitespace; line 3: the key is shorter than 8 characters; line 6: the key starts with a quote; line 8:"
                ), "\(output.stderr)")
            #expect(output.error.contains("; and 1 more; nothing was stored"))
            #expect(!output.error.contains("line 02"))
        }
    }

    @Test func aRefusedConnectionIsOneCleanLineWithOneHint() throws {
        let output = try KeyAdminProcess.run(["--database-url", "host=127.0.0.1 port=1 connect_timeout=2", "--list"])
        #expect(output.status == 1)
        #expect(!output.stderr.contains("\t"))
        #expect(output.stderr.components(separatedBy: "is the server running").count == 2, "\(output.stderr)")
        #expect(!output.stderr.contains("Is the server running"), "\(output.stderr)")
        #expect(output.stderr.split(separator: "\n").count == 1)
    }

    @Test func versionAndDoctorSpeakJSON() throws {
        let version = try KeyAdminProcess.run(["--version", "--json"])
        #expect(version.stdout == "{\"version\":\"0.1.0\"}\n")
        try TestDatabase.with(migrated: false) { database in
            let doctor = try KeyAdminProcess.run(["--database-url", database.connectionString, "--doctor", "--json"])
            #expect(doctor.status == 1)
            #expect(!doctor.stderr.contains("lines marked above"), "\(doctor.stderr)")
            #expect(doctor.stderr.contains("[database "), "\(doctor.stderr)")
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [String: Any])
            #expect(document["database"] as? String != nil)
            #expect(document["database_source"] as? String == "--database-url")
        }
    }

    @Test func aJSONFailureStillNamesTheDatabaseOnStderr() throws {
        try TestDatabase.withSolo { database in
            let output = try keyadmin(database, ["--get-key", "solo", "9", "--json"])
            #expect(output.status == 3)
            #expect(output.stdout.isEmpty)
            #expect(output.stderr.contains("[database "), "\(output.stderr)")
            #expect(output.stderr.contains("(--database-url)]"))
        }
    }

    @Test func historyShowsFiftyEventsUnlessToldOtherwise() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "many"])
            for number in 1...60 {
                _ = try keyadmin(database, ["--add-key", "many", "sk-history-count-key-\(number)"])
            }
            let json = try keyadmin(database, ["--history", "--json"])
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect((document["events"] as? [Any])?.count == 50)
        }
    }

    @Test func deletionEventsCarryTheFingerprintsOfWhatWent() throws {
        try TestDatabase.withSolo { database in
            let fingerprints = try database.values(
                "SELECT left(encode(sha256(api_key::bytea), 'hex'), 12) AS value FROM provider_api_keys ORDER BY key_number"
            )
            #expect(try keyadmin(database, ["--delete-key", "solo", "2", "--yes"]).status == 0)
            #expect(
                try database.values(
                    "SELECT key_fingerprint AS value FROM keyadmin.key_events WHERE action = 'key_deleted'")
                    == [fingerprints[1]])
            #expect(try keyadmin(database, ["--delete-provider", "solo", "--yes"]).status == 0)
            #expect(
                try database.values(
                    "SELECT detail ->> 'fingerprints' AS value FROM keyadmin.key_events WHERE action = 'provider_deleted'"
                ) == ["[\"\(fingerprints[0] ?? "")\"]"])
        }
    }

    @Test func theDeleteProviderPromptTakesTheNameInAnyCase() throws {
        guard TerminalSession.isAvailable else { return }
        try TestDatabase.withSolo { database in
            let session = try TerminalSession.run(
                ["--database-url", database.connectionString, "--delete-provider", "solo"],
                answers: [("to confirm: ", "SOLO")])
            #expect(session.status == 0, "\(session.output)")
            #expect(try database.integer("SELECT count(*) AS value FROM providers") == 0)
        }
    }

    @Test func completionsOfferTheStates() throws {
        let bash = try KeyAdminProcess.run(["--completions", "bash"]).stdout
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keyadmin-\(UUID().uuidString).bash")
        try bash.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let completed = try runTool([
            "bash", "-c",
            "source '\(file.path)'; COMP_WORDS=(keyadmin --list --state c); COMP_CWORD=3; _keyadmin; echo \"${COMPREPLY[@]}\"",
        ])
        #expect(completed.output == "cooling\n", "\(completed.output)")
        let zsh = try KeyAdminProcess.run(["--completions", "zsh"]).stdout
        #expect(zsh.contains("]:STATE:(available cooling exhausted disabled expired)'"), "\(zsh)")
        let fish = try KeyAdminProcess.run(["--completions", "fish"]).stdout
        #expect(
            fish.contains("complete -c keyadmin -l state -x -a 'available cooling exhausted disabled expired'"),
            "\(fish)")
    }

    @Test func aProviderWithoutKeysIsAWarningNotAFailure() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "fresh"])
            let doctor = try keyadmin(database, ["--doctor"])
            #expect(
                doctor.stdout.contains("warn  pool health: fresh: no keys yet  (fix: keyadmin --add-key fresh -)"),
                "\(doctor.stdout)")
            #expect(!doctor.stdout.contains("FAIL  pool health"))
        }
    }

    /// After GRANT ... TO PUBLIC, every fix names a role that holds what it revokes: PUBLIC, not
    /// the roles that read through it.
    @Test func doctorFixesRevokeWhereTheGrantIs() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            try database.connect().execute(
                SQLScript(trustedSQL: "GRANT SELECT ON public.provider_api_keys TO PUBLIC"), step: "granting to PUBLIC")
            let doctor = try keyadmin(database, ["--doctor"])
            let fixes = doctor.stdout.split(separator: "\n").compactMap { line in
                line.firstRange(of: "(fix: ").map { String(line[$0.upperBound...]) }
            }
            #expect(
                fixes.contains { $0.hasPrefix("REVOKE SELECT ON TABLE public.provider_api_keys FROM PUBLIC;") },
                "\(doctor.stdout)")
            #expect(fixes.contains { $0.hasPrefix("REVOKE ALL ON TABLE public.provider_api_keys FROM PUBLIC;") })
            // anon and the pg_ roles read through PUBLIC: revoking from them, or revoking PUBLIC
            // from them, would change nothing.
            for fix in fixes {
                for wrong in [
                    "FROM anon", "FROM authenticated", "pg_read_all", "pg_stat_scan", "REVOKE public",
                    "REVOKE \"public\"",
                ] {
                    #expect(!fix.contains(wrong), "\(fix)")
                }
            }
        }
    }

    /// A SECURITY DEFINER function that reads keys is found in any schema, not only in public.
    @Test func aDefinerFunctionInAnotherSchemaFails() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        CREATE SCHEMA api;
                        CREATE FUNCTION api.peek() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER
                            AS 'SELECT api_key FROM public.provider_api_keys';
                        GRANT USAGE ON SCHEMA api TO anon;
                        GRANT EXECUTE ON FUNCTION api.peek() TO anon;
                        """), step: "a definer in schema api")
            let doctor = try keyadmin(database, ["--doctor"])
            #expect(doctor.status == 1)
            #expect(
                doctor.stdout.split(separator: "\n").contains {
                    $0.hasPrefix("FAIL") && $0.contains("indirect exposure") && $0.contains("api.peek")
                },
                "\(doctor.stdout)")
        }
    }
}
