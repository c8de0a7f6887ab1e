import Foundation
import Postgres
import TestSupport
import Testing

/// The audit trail (migration 024): every change by anyone, the right event, never a key.
@Suite struct AuditTests {

    /// action, provider, number, before, after, actor: newest last.
    func events(_ database: TestDatabase) throws -> [String] {
        try database.values(
            """
            SELECT concat_ws(' ', action, provider_name, key_number, state_before, state_after, actor) AS value
            FROM keyadmin.key_events ORDER BY id
            """
        ).map { $0 ?? "" }
    }

    @Test func everyActionFromKeyadminIsOneEvent() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let url = database.connectionString
            _ = try keyadmin(url, ["--add-provider", "openai"])
            _ = try keyadmin(url, ["--add-key", "openai", "sk-audit-one-00000001", "--expires", "2099-06-01"])
            _ = try keyadmin(url, ["--update-key", "openai", "1", "sk-audit-two-00000002"], actor: "bob")
            _ = try keyadmin(url, ["--disable-key", "openai", "1", "--reason", "leaked in a log", "--actor", "carol"])
            _ = try keyadmin(url, ["--enable-key", "openai", "1"])
            _ = try keyadmin(url, ["--set-expiry", "openai", "1", "2099-01-01"])
            _ = try keyadmin(url, ["--set-label", "openai", "1", "team-a"])
            _ = try keyadmin(url, ["--delete-key", "openai", "1", "--yes"])
            _ = try keyadmin(url, ["--add-key", "openai", "-", "--number", "1"], stdin: "sk-audit-two-00000002\n")
            _ = try keyadmin(url, ["--delete-provider", "openai", "--yes"])
            #expect(
                try events(database) == [
                    "provider_added openai ops@test",
                    "key_added openai 1 available ops@test",
                    "key_replaced openai 1 available available bob",
                    // A new key starts a new lifetime: the old key's expiry goes, and that is said.
                    "expiry_set openai 1 available available bob",
                    "key_disabled openai 1 available disabled carol",
                    "key_enabled openai 1 disabled available ops@test",
                    "expiry_set openai 1 available available ops@test",
                    "label_set openai 1 available available ops@test",
                    "key_deleted openai 1 available ops@test",
                    "key_put_back openai 1 available ops@test",
                    "provider_deleted openai ops@test",
                ])
            #expect(
                try database.values("SELECT reason AS value FROM keyadmin.key_events WHERE action = 'key_disabled'")
                    == ["leaked in a log"])
            // The details: which key (by fingerprint) each event is about, and what came with it.
            let one = try fingerprint("sk-audit-one-00000001", in: database)
            let two = try fingerprint("sk-audit-two-00000002", in: database)
            #expect(
                try database.values(
                    """
                    SELECT concat_ws(' ', action, key_fingerprint, detail ->> 'expires_at', detail ->> 'previous_fingerprint',
                                     detail ->> 'key_count', detail ->> 'fingerprints') AS value
                    FROM keyadmin.key_events WHERE action IN ('key_added', 'key_replaced', 'provider_deleted') ORDER BY id
                    """) == [
                        "key_added \(one) 2099-06-01T00:00:00+00:00",
                        "key_replaced \(two) \(one)",
                        "provider_deleted 1 [\"\(two)\"]",
                    ])
        }
    }

    /// 12 hex digits of the key's SHA-256, computed here independently of the migration.
    func fingerprint(_ key: String, in database: TestDatabase) throws -> String {
        try database.values("SELECT left(encode(sha256(convert_to(\(key), 'UTF8')), 'hex'), 12) AS value")
            .first.flatMap { $0 } ?? ""
    }

    @Test func writersOtherThanKeyadminAndBackendsAreRecordedToo() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.execute(
                SQLScript(
                    trustedSQL: """
                        INSERT INTO providers (provider_name) VALUES ('groq');
                        INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 1, 'sk-sql-written-0001' FROM providers;
                        UPDATE provider_api_keys SET label = 'from psql';
                        UPDATE providers SET provider_name = 'groq2';
                        """), step: "as a DBA would")
            // A backend's reports: the start of a cooldown and an automatic disable are events;
            // a second 429 on a key already cooling down and a healthy 2xx are not.
            for (status, retry) in [(429, 60), (429, 120), (200, 0), (401, 0)] {
                try connection.query(
                    "SELECT report_api_key_result('groq2', 'sk-sql-written-0001', \(status), \(retry))", step: "report")
            }
            let actions = try database.values("SELECT action AS value FROM keyadmin.key_events ORDER BY id")
            #expect(
                actions == [
                    "provider_added", "key_added", "label_set", "provider_renamed", "cooldown_started",
                    "key_disabled_automatically",
                ])
            // Without keyadmin's actor, the actor is the role; the application is the writer's own.
            #expect(
                try database.values(
                    """
                    SELECT DISTINCT (actor = db_role AND db_role = session_user)::text || ' ' || application_name AS value
                    FROM keyadmin.key_events
                    """) == ["true keyadmin-tests"])
        }
    }

    /// The states around each event are the key's own: a key added already expired, a key
    /// disabled while cooling down, and what the backend reported.
    @Test func eventsCarryTheStatesBeforeAndAfterAndTheReportedStatus() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        INSERT INTO providers (provider_name) VALUES ('groq');
                        INSERT INTO provider_api_keys (provider_id, key_number, api_key, expires_at)
                            SELECT id, 1, 'sk-added-expired-0001', now() - interval '1 day' FROM providers;
                        INSERT INTO provider_api_keys (provider_id, key_number, api_key)
                            SELECT id, 2, 'sk-cooling-then-refused-02' FROM providers;
                        SELECT report_api_key_result('groq', 'sk-cooling-then-refused-02', 429, 60);
                        SELECT report_api_key_result('groq', 'sk-cooling-then-refused-02', 403);
                        """), step: "a backend's reports")
            #expect(
                try database.values(
                    """
                    SELECT concat_ws(' ', action, key_number, coalesce(state_before, '-'), state_after,
                                     detail ->> 'http_status') AS value
                    FROM keyadmin.key_events WHERE key_number IS NOT NULL ORDER BY id
                    """) == [
                        "key_added 1 - expired", "key_added 2 - available",
                        "cooldown_started 2 available cooling_down 429",
                        "key_disabled_automatically 2 cooling_down disabled",
                    ])
        }
    }

    @Test func aBulkLoadIsOneSummaryEventPerChunkAndAFewKeysAreOneEachWithFingerprints() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let url = database.connectionString
            _ = try keyadmin(url, ["--add-provider", "openai"])
            let keys = (1...250).map { "sk-bulk-audited-\($0)-abcdef" }
            #expect(try keyadmin(url, ["--add-bulk", "openai"], stdin: keys.joined(separator: "\n")).status == 0)
            let summary = try database.values(
                """
                SELECT concat_ws(' ', detail ->> 'count', detail ->> 'first_number', detail ->> 'last_number',
                                 jsonb_array_length(detail -> 'fingerprints'), detail ->> 'fingerprints_omitted') AS value
                FROM keyadmin.key_events WHERE action = 'keys_added'
                """)
            // The first 100 fingerprints by number, and how many were left out (migration 027).
            #expect(summary == ["250 1 250 100 150"])
            #expect(
                try database.values("SELECT actor AS value FROM keyadmin.key_events WHERE action = 'keys_added'")
                    == ["ops@test"])
            let listed = try keyadmin(url, ["--list", "--json"]).stdout
            let fingerprint = try database.values(
                "SELECT detail -> 'fingerprints' ->> 0 AS value FROM keyadmin.key_events WHERE action = 'keys_added'")
            #expect(listed.contains("\"fingerprint\":\"\(fingerprint.first.flatMap { $0 } ?? "?")\""))
            let history = try keyadmin(url, ["--history", "--key", "7"])
            #expect(history.stdout.contains("keys added  openai 250 keys #1-#250"), "\(history.stdout)")
            for key in keys { #expect(!history.stdout.contains(key) && !listed.contains(key)) }
        }
    }

    @Test func historyFiltersByProviderKeySinceAndLimit() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let url = database.connectionString
            for provider in ["openai", "groq"] { _ = try keyadmin(url, ["--add-provider", provider]) }
            _ = try keyadmin(url, ["--add-key", "openai", "sk-history-key-000001"])
            _ = try keyadmin(url, ["--add-key", "openai", "sk-history-key-000002"])
            _ = try keyadmin(url, ["--set-label", "openai", "2", "second"])
            func lines(_ arguments: [String]) throws -> [String] {
                let output = try keyadmin(url, ["--history"] + arguments)
                #expect(output.status == 0, "\(output.stderr)")
                return output.result.split(separator: "\n").map(String.init)
            }
            #expect(try lines([]).count == 5)
            #expect(try lines(["--provider", "groq"]).count == 1)
            let second = try lines(["--provider", "openai", "--key", "2"])
            #expect(second.count == 2)
            #expect(second.first?.contains("label set  openai #2") == true, "newest first: \(second)")
            #expect(try lines(["--limit", "1"]).count == 1)
            #expect(try lines(["--since", "2999-01-01"]) == ["no events"])
            #expect(try lines(["--since", "2000-01-01"]).count == 5)
            #expect(try keyadmin(url, ["--history", "--provider", "nobody"]).status == 3)
        }
    }

    @Test func aRolledBackCommandLeavesNoEvent() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let url = database.connectionString
            _ = try keyadmin(url, ["--add-provider", "openai"])
            let before = try events(database)
            let bad = try keyadmin(url, ["--add-bulk", "openai"], stdin: "sk-fine-key-000000001\nsk-bad key\n")
            #expect(bad.status == 2)
            let connection = try database.connect()
            #expect(throws: (any Error).self) {
                try connection.withTransaction { transaction in
                    try transaction.query("INSERT INTO providers (provider_name) VALUES ('rolledback')", step: "t")
                    throw TestSupportError("roll back")
                }
            }
            #expect(try events(database) == before)
        }
    }

    @Test func onlyTheOwnerWritesEventsAndTheAPIRolesCannotReadThem() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            _ = try keyadmin(database.connectionString, ["--add-provider", "openai"])
            func attempt(_ statement: String, as role: String) throws -> SQLState? {
                try database.attempt(statement, as: role)
            }
            for role in ["service_role", "anon", "authenticated"] {
                for statement in [
                    "INSERT INTO keyadmin.key_events (action, actor, db_role) VALUES ('forged', 'x', 'x')",
                    "UPDATE keyadmin.key_events SET actor = 'someone else'",
                    "DELETE FROM keyadmin.key_events",
                    "TRUNCATE keyadmin.key_events",
                    "SELECT keyadmin.record_keys_inserted()",
                ] {
                    #expect(try attempt(statement, as: role) == .insufficientPrivilege, "\(role): \(statement)")
                }
            }
            #expect(try attempt("SELECT count(*) FROM keyadmin.key_events", as: "anon") == .insufficientPrivilege)
            #expect(try attempt("SELECT count(*) FROM keyadmin.key_events", as: "service_role") == nil)
            // The service role's own writes are still recorded, by the owner's trigger.
            #expect(
                try attempt("INSERT INTO public.providers (provider_name) VALUES ('from-service')", as: "service_role")
                    == nil)
        }
    }

    @Test func pruningDeletesOldEventsAndRecordsItself() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let url = database.connectionString
            _ = try keyadmin(url, ["--add-provider", "openai"])
            try database.connect().query(
                "UPDATE keyadmin.key_events SET occurred_at = now() - interval '400 days'", step: "age")
            _ = try keyadmin(url, ["--add-provider", "groq"])
            let pruned = try keyadmin(url, ["--prune-history", "--before", "2020-01-01", "--yes"])
            #expect(pruned.result.hasPrefix("deleted 0 events"), "\(pruned.stderr)")
            let cutoff = try #require(
                try database.values("SELECT to_char(now() - interval '1 day', 'YYYY-MM-DD') AS value").first ?? nil)
            #expect(
                try keyadmin(url, ["--prune-history", "--before", cutoff, "--yes"]).result.hasPrefix("deleted 1 event"))
            #expect(
                try database.values("SELECT action AS value FROM keyadmin.key_events ORDER BY id")
                    == ["provider_added", "history_pruned", "history_pruned"])
            // Each pruning records how many events it deleted and the cutoff it was given.
            #expect(
                try database.values(
                    """
                    SELECT (detail ->> 'deleted') || ' ' || to_char((detail ->> 'before')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                           || ' ' || actor AS value
                    FROM keyadmin.key_events WHERE action = 'history_pruned' ORDER BY id
                    """) == ["0 2020-01-01 ops@test", "1 \(cutoff) ops@test"])
            #expect(try keyadmin(url, ["--prune-history"]).status == 2)
        }
    }

    /// Without --actor or KEYADMIN_ACTOR the actor is user@host: two people sharing one login
    /// are still told apart.
    @Test func theDefaultActorIsTheUserAtTheHost() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let output = try KeyAdminProcess.run(
                ["--database-url", database.connectionString, "--add-provider", "openai"],
                environment: ["USER": "alice"], unsetting: ["KEYADMIN_ACTOR"])
            #expect(output.status == 0)
            #expect(
                try database.values("SELECT actor AS value FROM keyadmin.key_events") == [
                    "alice@\(ProcessInfo.processInfo.hostName)"
                ])
        }
    }

    @Test(.enabled(if: PgBouncer.isInstalled, "pgbouncer is not installed"))
    func theActorHoldsPerTransactionThroughPgBouncer() throws {
        let bouncer = try PgBouncer()
        try TestDatabase.with { (database: TestDatabase) throws in
            let url = bouncer.connectionString(database: database.name)
            for index in 0..<6 {
                #expect(try keyadmin(url, ["--add-provider", "p\(index)"], actor: "actor-\(index)").status == 0)
            }
            // A plain write through the same pool afterwards is not attributed to any of them.
            try Connection(settings: ConnectionSettings(connectionString: url)).query(
                "INSERT INTO providers (provider_name) VALUES ('plain')", step: "plain")
            #expect(
                try database.values("SELECT actor AS value FROM keyadmin.key_events ORDER BY id")
                    == (0..<6).map { "actor-\($0)" } + ["postgres"])
        }
    }

    @Test func theFingerprintIsTheSameInTheTrailAndTheListing() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database.connectionString, ["--add-provider", "openai"])
            _ = try keyadmin(database.connectionString, ["--add-key", "openai", "sk-finger\\print-0001"])
            let trail = try database.values(
                "SELECT key_fingerprint AS value FROM keyadmin.key_events WHERE key_number = 1")
            let listed = try keyadmin(database.connectionString, ["--list"]).stdout
            #expect(trail.count == 1)
            #expect(listed.contains(trail.first.flatMap { $0 } ?? "missing"))
        }
    }

    /// The boundary between one event per key and one summary event: 100 keys are 100
    /// key_added events, 101 keys one keys_added event with the count and the numbers.
    @Test(arguments: [(100, 100, "key_added"), (101, 1, "keys_added")])
    func aBulkLoadIsOneEventPerKeyUpToAHundred(keys count: Int, events: Int, action: String) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let keys = (1...count).map { "sk-bulk-boundary-\(String(format: "%06d", $0))" }
            let added = try keyadmin(database, ["--add-bulk", "openai"], stdin: keys.joined(separator: "\n"))
            #expect(added.status == 0, "\(added.stderr)")
            #expect(
                try database.values(
                    "SELECT action || ' ' || count(*) AS value FROM keyadmin.key_events WHERE action LIKE 'key%added' GROUP BY action"
                ) == ["\(action) \(events)"])
        }
    }

    /// A check of one provider records one provider_checked event, for that provider only.
    @Test func aCheckRecordsOneEventForItsProvider() throws {
        let api = try StandInModelsAPI(answers: [:])
        try TestDatabase.with { (database: TestDatabase) throws in
            for name in ["first", "second"] {
                _ = try keyadmin(database, ["--add-provider", name])
                _ = try keyadmin(database, ["--add-key", name, "sk-\(name)-check-key-0001"])
                _ = try keyadmin(database, ["--set-endpoint", name, api.baseURL()])
            }
            #expect(try keyadmin(database, ["--check", "second"]).status == 0)
            #expect(
                try database.values(
                    "SELECT provider_name AS value FROM keyadmin.key_events WHERE action = 'provider_checked'")
                    == ["second"])
        }
    }

    /// A carriage return can reach neither a label nor a reason, whoever writes it (23514);
    /// what JSON must escape (quotes, backslashes, U+2028) comes back unchanged through --json.
    @Test func labelsAndReasonsComeBackUnchangedInJSON() throws {
        try TestDatabase.withSolo { database in
            let connection = try database.connect()
            for column in ["label", "disabled_reason"] {
                let refused = try database.refusal(
                    "UPDATE provider_api_keys SET \(column) = E'a\\rb' WHERE key_number = 1")
                #expect(refused?.sqlState?.rawValue == "23514", "\(column)")
            }
            let label = "say \"hi\" \\ back\u{2028}slash ☃"
            let reason = "revoked: \"leaked\" in C:\\logs"
            try connection.query(
                """
                UPDATE provider_api_keys SET label = \(label), disabled_at = now(), disabled_reason = \(reason)
                WHERE key_number = 1
                """, step: "writing with SQL")
            let list = try keyadmin(database, ["--list", "--json"])
            let document = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
            let keys = ((document?["providers"] as? [[String: Any]])?.first?["keys"] as? [[String: Any]]) ?? []
            let first = keys.first { $0["number"] as? Int == 1 }
            #expect(first?["label"] as? String == label, "\(list.stdout)")
            #expect(first?["reason"] as? String == reason, "\(list.stdout)")
        }
    }

    /// The server's own log, after a bulk load with duplicates (the load that falls back from
    /// COPY) and after failing commands, holds no key.
    @Test(.enabled(if: PrivateServer.isAvailable, "no PostgreSQL server binaries"))
    func theServerLogHoldsNoKey() throws {
        let server = try PrivateServer()
        let url = server.connectionString
        let keys = (1...30).map { "sk-never-in-the-log-\($0)-Zq9" }
        _ = try keyadmin(url, ["--migrate"])
        _ = try keyadmin(url, ["--add-provider", "openai"])
        _ = try keyadmin(url, ["--add-key", "openai", keys[0]])
        _ = try keyadmin(url, ["--add-bulk", "openai"], stdin: keys.joined(separator: "\n") + "\n" + keys[3])
        _ = try keyadmin(url, ["--add-key", "openai", keys[1]])  // already stored
        _ = try keyadmin(url, ["--update-key", "openai", "1", keys[2]])  // stored as another number
        _ = try keyadmin(url, ["--add-key", "openai", keys[4], "--number", "2"])  // taken
        _ = try keyadmin(url, ["--update-key", "openai", "999", keys[5]])  // no such number
        let log = server.log
        #expect(!log.isEmpty)
        for key in keys { #expect(!log.contains(key), "the server log holds \(key)") }
    }
}
