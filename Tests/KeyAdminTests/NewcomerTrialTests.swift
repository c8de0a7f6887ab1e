import Foundation
import Postgres
import TestSupport
import Testing

/// What the second newcomer trial found: each test names one behaviour and fails without it.
@Suite struct NewcomerTrialTests {
    func keyadmin(
        _ database: TestDatabase, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]
    ) throws -> KeyAdminProcess.Output {
        try KeyAdminProcess.run(
            ["--database-url", database.connectionString] + arguments, stdin: stdin,
            environment: ["KEYADMIN_ACTOR": "alice"].merging(environment) { $1 })
    }

    /// A provider "solo" with keys #1 and #2.
    func withSolo(_ body: (TestDatabase) throws -> Void) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "solo"])
            let added = try keyadmin(
                database, ["--add-bulk", "solo"], stdin: "sk-solo-key-0000000001\nsk-solo-key-0000000002\n")
            #expect(added.status == 0, "\(added.stderr)")
            try body(database)
        }
    }

    // MARK: - Keys that exist but cannot be used

    @Test func getKeySaysWhyAKeyCannotBeUsed() throws {
        try withSolo { database in
            _ = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "revoked by hand"])
            let disabled = try keyadmin(database, ["--get-key", "solo", "1"])
            #expect(disabled.status == 3)
            #expect(
                disabled.error.hasPrefix("error: key #1 of solo is disabled (revoked by hand, by alice, 20"),
                "\(disabled.stderr)")
            #expect(disabled.error.hasSuffix("Z) (keyadmin --enable-key solo 1)\n"), "\(disabled.stderr)")

            #expect(try keyadmin(database, ["--set-expiry", "solo", "2", "2020-01-01", "--force"]).status == 0)
            let expired = try keyadmin(database, ["--get-key", "solo", "2"])
            #expect(expired.status == 3)
            #expect(
                expired.error.hasPrefix("error: key #2 of solo expired at 2020-01-01T00:00:00Z (keyadmin --set-expiry"))
            // An expiry to the microsecond ('now') is shown to the second it began, as listings show it.
            #expect(try keyadmin(database, ["--set-expiry", "solo", "2", "now"]).status == 0)
            let listed = try database.values(
                "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS value FROM provider_api_keys WHERE key_number = 2"
            )
            let now = try keyadmin(database, ["--get-key", "solo", "2"])
            #expect(
                now.error.hasPrefix("error: key #2 of solo expired at \(listed.first.flatMap { $0 } ?? "?") ("),
                "\(now.stderr)")

            let missing = try keyadmin(database, ["--get-key", "solo", "7"])
            #expect(missing.status == 3)
            #expect(missing.error.hasPrefix("error: no key #7 for provider \"solo\""))
        }
    }

    @Test func getKeySaysAKeyWasDisabledAutomatically() throws {
        try withSolo { database in
            _ = try runPsqlCommand("SELECT report_api_key_result('solo', 'sk-solo-key-0000000001', 401)", on: database)
            let output = try keyadmin(database, ["--get-key", "solo", "1"])
            #expect(output.status == 3)
            #expect(
                output.error.hasPrefix("error: key #1 of solo was disabled automatically (HTTP 401 reported at "),
                "\(output.stderr)")
        }
    }

    @Test func randomKeySaysWhyNoKeyIsAvailable() throws {
        try withSolo { database in
            _ = try keyadmin(database, ["--disable-key", "solo", "1"])
            _ = try keyadmin(database, ["--set-expiry", "solo", "2", "now"])
            let output = try keyadmin(database, ["--random-key", "solo"])
            #expect(output.status == 3)
            #expect(
                output.error.hasPrefix("error: provider \"solo\" has no available key: 1 disabled, 1 expired"),
                "\(output.stderr)")

            _ = try keyadmin(database, ["--add-provider", "empty"])
            let empty = try keyadmin(database, ["--random-key", "empty"])
            #expect(empty.status == 3)
            #expect(empty.error.hasPrefix("error: provider \"empty\" has no keys"))
        }
    }

    // MARK: - The audit trail

    @Test func pruningRefusesATimeToComeAndAsksOnATerminal() throws {
        try withSolo { database in
            let events = try database.integer("SELECT count(*) AS value FROM keyadmin.key_events")
            for confirmation in [[], ["--yes"]] {
                let future = try keyadmin(database, ["--prune-history", "--before", "2999-01-01"] + confirmation)
                #expect(future.status == 2)
                #expect(future.error.contains("later than now"), "\(future.stderr)")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_events") == events)

            guard TerminalSession.isAvailable else { return }
            // A cutoff after every event so far, and not later than now (whole seconds, rounded down).
            usleep(1_100_000)
            let now = try #require(
                try database.values(
                    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS value"
                ).first ?? nil)
            let declined = try TerminalSession.run(
                ["--database-url", database.connectionString, "--prune-history", "--before", now],
                answers: [("[y/N] ", "n")])
            #expect(declined.status == 2)
            #expect(declined.output.contains("Delete \(events ?? 0) events before"), "\(declined.output)")
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_events") == events)
            let accepted = try TerminalSession.run(
                ["--database-url", database.connectionString, "--prune-history", "--before", now],
                answers: [("[y/N] ", "y")])
            #expect(accepted.status == 0, "\(accepted.output)")
            #expect(
                try database.integer(
                    "SELECT count(*) AS value FROM keyadmin.key_events WHERE action <> 'history_pruned'") == 0)
        }
    }

    @Test func historyShowsWhatChanged() throws {
        try withSolo { database in
            _ = try keyadmin(database, ["--set-label", "solo", "1", "team-a"])
            _ = try keyadmin(database, ["--set-expiry", "solo", "1", "2099-01-31T18:00:00+02:00"])
            let history = try keyadmin(database, ["--history", "--limit", "2"])
            let lines = history.result.split(separator: "\n").map(String.init)
            #expect(lines.count == 2)
            #expect(lines[0].contains("expiry set  solo #1"))
            #expect(lines[0].contains("expires 2099-01-31T16:00:00Z"), "\(lines[0])")
            #expect(lines[1].contains("label \"team-a\""), "\(lines[1])")

            #expect(try keyadmin(database, ["--delete-provider", "solo", "--yes"]).status == 0)
            let deletion = try keyadmin(database, ["--history", "--provider", "solo", "--key", "2", "--limit", "1"])
            #expect(deletion.result.contains("provider deleted  solo with its 2 keys"), "\(deletion.stdout)")
        }
    }

    /// A provider of many keys deleted is one event of bounded size: a count, the number range
    /// and 100 fingerprints.
    @Test func aLargeDeletionIsASmallEvent() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "big"])
            let keys = (1...250).map { "sk-big-pool-key-\($0)-abcdef" }.joined(separator: "\n")
            #expect(try keyadmin(database, ["--add-bulk", "big"], stdin: keys).status == 0)
            #expect(try keyadmin(database, ["--delete-provider", "big", "--yes"]).status == 0)
            let detail = try database.values(
                """
                SELECT jsonb_array_length(detail -> 'fingerprints') || ' ' || (detail ->> 'fingerprints_omitted')
                       || ' ' || (detail ->> 'key_count') || ' ' || (detail ->> 'first_number') || '-'
                       || (detail ->> 'last_number') AS value
                FROM keyadmin.key_events WHERE action = 'provider_deleted'
                """)
            #expect(detail == ["100 150 250 1-250"])
            let loaded = try database.values(
                "SELECT jsonb_array_length(detail -> 'fingerprints') AS value FROM keyadmin.key_events WHERE action = 'keys_added'"
            )
            #expect(loaded == ["100"])
            let json = try keyadmin(database, ["--history", "--limit", "3", "--json"])
            #expect(json.stdout.utf8.count < 10_000, "\(json.stdout.utf8.count) bytes")
        }
    }

    @Test func disablingAgainWithANewReasonChangesTheReasonAndRecordsIt() throws {
        try withSolo { database in
            _ = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "suspicious"])
            let again = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "leaked on github"])
            #expect(again.status == 0)
            #expect(again.result.contains("was already disabled; its reason is the new one now"), "\(again.stdout)")
            #expect(
                try database.values("SELECT disabled_reason AS value FROM provider_api_keys WHERE key_number = 1")
                    == ["leaked on github"])
            #expect(
                try database.values(
                    "SELECT reason || ' / ' || (detail ->> 'previous_reason') AS value FROM keyadmin.key_events WHERE action = 'disable_reason_set'"
                ) == ["leaked on github / suspicious"])
            let same = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "leaked on github"])
            #expect(same.result.contains("nothing changed"))
        }
    }

    // MARK: - Nothing quoted back

    @Test func noArgumentIsQuotedBackUnlessItValidated() throws {
        let key = "sk-proj-Qx81mZpL0aVt7Rw2Kc9e"
        try withSolo { database in
            for arguments in [
                ["--add-bulk", "solo", "--file", key],
                ["--list", "--\(key)"],
                ["--list", "--sk-proj-abc"],
            ] {
                let output = try keyadmin(database, arguments)
                #expect(output.status == 2, "\(arguments)")
                #expect(!output.stderr.contains(key) && !output.stderr.contains("sk-proj-abc"), "\(output.stderr)")
            }
            let url = try KeyAdminProcess.run(["--database-url", key, "--list"])
            #expect(url.status == 2)
            #expect(!url.stderr.contains(key), "\(url.stderr)")
            // libpq quotes the text it cannot parse: the part that is not a keyword is left out.
            let garbled = try KeyAdminProcess.run(["--database-url", "host=localhost \(key)", "--list"])
            #expect(garbled.status != 0)
            #expect(!garbled.stderr.contains(key), "\(garbled.stderr)")
            #expect(garbled.stderr.contains("cannot use the connection string"))
        }
    }

    @Test func namesShapedLikeCredentialsNeedForce() throws {
        let uuid = "6f1c2e3a-9b8d-4c1e-8f2a-1234567890ab"
        try TestDatabase.with { (database: TestDatabase) throws in
            for name in [uuid, "sk-live-team"] {
                let refused = try keyadmin(database, ["--add-provider", name])
                #expect(refused.status == 2)
                #expect(!refused.stderr.contains(name), "\(refused.stderr)")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM providers") == 0)
            #expect(try keyadmin(database, ["--add-provider", uuid, "--force"]).status == 0)
            let missing = try keyadmin(database, ["--list", "--provider", "6f1c2e3a-9b8d-4c1e-8f2a-0000000000ff"])
            #expect(missing.status == 3)
            #expect(missing.error.hasPrefix("error: no provider by that name"), "\(missing.stderr)")
        }
    }

    @Test func aKeyShapedActorIsRefusedNotReplaced() throws {
        try withSolo { database in
            let output = try keyadmin(
                database, ["--disable-key", "solo", "1"],
                environment: ["KEYADMIN_ACTOR": "sk-proj-Qx81mZpL0aVt7Rw2Kc9e"])
            #expect(output.status == 2)
            #expect(output.stderr.contains("KEYADMIN_ACTOR is not a usable actor name"), "\(output.stderr)")
            #expect(!output.stderr.contains("Qx81mZ"))
            #expect(
                try database.values("SELECT disabled_at::text AS value FROM provider_api_keys WHERE key_number = 1")
                    == [nil])
        }
    }

    // MARK: - Dates

    @Test func pastExpiriesNeedForceAndNowExpiresAtOnce() throws {
        try withSolo { database in
            for arguments in [
                ["--set-expiry", "solo", "1", "2020-01-01"],
                ["--set-expiry", "solo", "1", "1969-07-20"],
                ["--add-key", "solo", "sk-solo-key-0000000003", "--expires", "2020-01-01T00:00:00Z"],
                ["--add-bulk", "solo", "--expires", "2001-01-01"],
            ] {
                let output = try keyadmin(database, arguments, stdin: "sk-solo-key-0000000004\n")
                #expect(output.status == 2, "\(arguments)")
                #expect(output.error.contains("is in the past"), "\(output.stderr)")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 2)
            #expect(
                try database.values("SELECT expires_at::text AS value FROM provider_api_keys WHERE key_number = 1") == [
                    nil
                ])

            let now = try keyadmin(database, ["--set-expiry", "solo", "1", "now"])
            #expect(now.status == 0, "\(now.stderr)")
            #expect(try keyadmin(database, ["--list", "--state", "expired", "--json"]).stdout.contains("\"number\":1"))
            #expect(try keyadmin(database, ["--set-expiry", "solo", "2", "1969-07-20", "--force"]).status == 0)
        }
    }

    /// Times are read and echoed in UTC whatever the machine's and the session's time zones.
    @Test func datesAreUTCWhateverTheTimeZones() throws {
        try withSolo { database in
            let zones = ["TZ": "America/New_York", "PGTZ": "Asia/Tokyo"]
            let bare = try keyadmin(database, ["--set-expiry", "solo", "1", "2099-12-31"], environment: zones)
            #expect(
                bare.result == "key #1 of solo (sk-so…0001) now expires at 2099-12-31T00:00:00Z\n", "\(bare.stdout)")
            let offset = try keyadmin(
                database, ["--set-expiry", "solo", "2", "2099-06-01T02:30+02:00"], environment: zones)
            #expect(offset.result.contains("now expires at 2099-06-01T00:30:00Z"), "\(offset.stdout)")
            #expect(
                try database.values(
                    "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS value FROM provider_api_keys ORDER BY key_number"
                ) == ["2099-12-31 00:00", "2099-06-01 00:30"])
            let events = try keyadmin(
                database, ["--history", "--since", "2000-01-01", "--limit", "1"], environment: zones)
            #expect(events.result.contains("expires 2099-06-01T00:30:00Z"), "\(events.stdout)")
        }
    }

    // MARK: - Messages

    @Test func bulkErrorsNameEachLineWithItsReasonInPlainNumbers() throws {
        try withSolo { database in
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
        try withSolo { database in
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
        try withSolo { database in
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
        try withSolo { database in
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
        #expect(zsh.contains("]:STATE:(available cooling disabled expired)'"), "\(zsh)")
        let fish = try KeyAdminProcess.run(["--completions", "fish"]).stdout
        #expect(fish.contains("complete -c keyadmin -l state -x -a 'available cooling disabled expired'"), "\(fish)")
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
