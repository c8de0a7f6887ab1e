import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// Migration 023 in the database: states, the random pick over available keys, reports.
@Suite struct LifecycleTests {
    /// Keys numbered `numbers` for provider openai, named sk-key-N.
    func seed(_ database: TestDatabase, numbers: [Int]) throws {
        let connection = try database.connect()
        try connection.query("INSERT INTO providers (provider_name) VALUES ('openai')", step: "provider")
        try connection.query(
            """
            INSERT INTO provider_api_keys (provider_id, key_number, api_key)
            SELECT p.id, n, 'sk-key-' || n FROM providers AS p, unnest(\(numbers)::int[]) AS n
            """, step: "keys")
    }

    /// Keys 1-4: disabled, expired, cooling down, available. The disabled key has also expired
    /// and cools down, and the expired one cools down too: the first state in that order wins.
    func seedOneKeyPerState(_ database: TestDatabase) throws {
        try seed(database, numbers: [1, 2, 3, 4])
        try run(
            database,
            """
            UPDATE provider_api_keys SET disabled_at = now() WHERE key_number = 1;
            UPDATE provider_api_keys SET expires_at = now() - interval '1 s' WHERE key_number IN (1, 2);
            UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour' WHERE key_number IN (1, 2, 3);
            """)
    }

    func run(_ database: TestDatabase, _ sql: String) throws {
        try database.connect().execute(SQLScript(trustedSQL: sql), step: "test setup")
    }

    func draws(_ count: Int, from database: TestDatabase) throws -> [String?] {
        try randomDraws(count, from: database, seed: 0.1234)
    }

    func report(_ database: TestDatabase, _ key: String, _ status: Int, retryAfter: Int? = nil) throws -> String? {
        try database.values("SELECT report_api_key_result('openai', \(key), \(status), \(retryAfter)) AS value").first
            ?? nil
    }

    func column(_ database: TestDatabase, _ expression: SQLFragment, key: Int) throws -> String? {
        try database.connect().query(
            "SELECT (\(expression))::text AS value FROM provider_api_keys AS k WHERE key_number = \(key)",
            step: "reading"
        ).rows.first?.decodeIfPresent("value")
    }

    /// Chi-square over the available keys of a pool with gaps and unavailable keys interleaved:
    /// numbers 1-40 with every 10th deleted; of the rest, disabled, cooling down and expired
    /// keys mixed among the available ones. 12,000 draws must never return an unavailable key,
    /// and fit the uniform distribution (critical value at 0.1% for 17 degrees of freedom: 40.79).
    @Test func randomPickIsUniformOverAvailableKeysOnly() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let numbers = (1...40).filter { $0 % 10 != 0 }
            try seed(database, numbers: numbers)
            try run(
                database,
                """
                UPDATE provider_api_keys SET disabled_at = now(), disabled_reason = 'test' WHERE key_number % 5 = 1;
                UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour' WHERE key_number % 5 = 2;
                UPDATE provider_api_keys SET expires_at = now() - interval '1 day' WHERE key_number IN (3, 13);
                """)
            let available = Set(
                numbers.filter { $0 % 5 != 1 && $0 % 5 != 2 && $0 != 3 && $0 != 13 }.map { "sk-key-\($0)" })
            #expect(available.count == 18)
            let picks = try draws(12_000, from: database)
            #expect(picks.allSatisfy { $0.map(available.contains) == true }, "an unavailable key was drawn")
            var counts: [String: Int] = [:]
            for pick in picks { counts[pick ?? "", default: 0] += 1 }
            let expected = Double(picks.count) / Double(available.count)
            let chiSquare = available.reduce(0.0) { sum, key in
                let observed = Double(counts[key] ?? 0)
                return sum + (observed - expected) * (observed - expected) / expected
            }
            #expect(chiSquare < 40.79, "chi-square \(chiSquare)")
        }
    }

    /// Few available among many: the number probes miss, the pick by rank takes over, and it is
    /// uniform too (9 degrees of freedom: 27.88).
    @Test func randomPickStaysUniformWhenFewKeysAreAvailable() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: Array(1...2_000))
            try run(
                database,
                """
                UPDATE provider_api_keys SET disabled_at = now() WHERE key_number % 200 <> 7 AND key_number % 3 = 0;
                UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour' WHERE key_number % 200 <> 7 AND key_number % 3 = 1;
                UPDATE provider_api_keys SET expires_at = now() - interval '1 hour' WHERE key_number % 200 <> 7 AND key_number % 3 = 2;
                """)
            let available = Set((1...2_000).filter { $0 % 200 == 7 }.map { "sk-key-\($0)" })
            #expect(available.count == 10)
            let picks = try draws(3_000, from: database)
            #expect(picks.allSatisfy { $0.map(available.contains) == true })
            var counts: [String: Int] = [:]
            for pick in picks { counts[pick ?? "", default: 0] += 1 }
            let expected = Double(picks.count) / 10
            let chiSquare = available.reduce(0.0) { $0 + pow(Double(counts[$1] ?? 0) - expected, 2) / expected }
            #expect(chiSquare < 27.88, "chi-square \(chiSquare)")
        }
    }

    @Test func whenEveryEnabledKeyCoolsDownTheSoonestEndingOneIsGiven() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [1, 2, 3, 4])
            try run(
                database,
                """
                UPDATE provider_api_keys SET cooldown_until = now() + make_interval(mins => 10 * key_number);
                UPDATE provider_api_keys SET cooldown_until = now() + interval '1 minute', disabled_at = now() WHERE key_number = 4;
                UPDATE provider_api_keys SET cooldown_until = now() + interval '2 minutes', expires_at = now() - interval '1 s' WHERE key_number = 3;
                """)
            #expect(Set(try draws(20, from: database)) == ["sk-key-1"])
            try run(database, "UPDATE provider_api_keys SET disabled_at = now() WHERE key_number IN (1, 2)")
            #expect(Set(try draws(5, from: database)) == [nil], "no enabled, unexpired key: NULL")
        }
    }

    @Test func getAPIKeyRefusesDisabledAndExpiredKeysButNotCoolingOnes() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seedOneKeyPerState(database)
            try run(database, "UPDATE provider_api_keys SET expires_at = now() + interval '1 day' WHERE key_number = 4")
            let got = try (1...4).map {
                try database.values("SELECT get_api_key('openai', \($0)) AS value").first ?? nil
            }
            #expect(got == [nil, nil, "sk-key-3", "sk-key-4"])
        }
    }

    @Test func bothLookupsRunInAReadOnlyTransactionAndReportsDoNot() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [1, 2])
            let connection = try database.connect()
            _ = try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
                try transaction.query(
                    "SELECT get_api_key('openai', 1), get_random_api_key('openai')", step: "read only")
            }
            #expect {
                try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
                    try transaction.query("SELECT report_api_key_result('openai', 'sk-key-1', 429)", step: "read only")
                }
            } throws: { ($0 as? PGError)?.sqlState == .readOnlySQLTransaction }
        }
    }

    @Test func eachStatusHasItsEffect() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [1, 2, 3, 4, 5, 6])
            // 2xx on a healthy key writes nothing: the row version does not change.
            let before = try column(database, "xmin", key: 1)
            #expect(try report(database, "sk-key-1", 200) == "available")
            #expect(try column(database, "xmin", key: 1) == before)
            // Other 4xx: the request's fault.
            #expect(try report(database, "sk-key-1", 404) == "available")
            #expect(try column(database, "xmin", key: 1) == before)

            // 429 with Retry-After, capped at a day, never shortened by a later report.
            #expect(try report(database, "sk-key-1", 429, retryAfter: 120) == "cooling_down")
            let left = {
                try Int(self.column(database, "ceil(extract(epoch FROM cooldown_until - now()))", key: 1) ?? "") ?? -1
            }
            #expect((110...120).contains(try left()))
            #expect(try report(database, "sk-key-1", 429, retryAfter: 5) == "cooling_down")
            #expect((110...120).contains(try left()), "a later, shorter Retry-After does not shorten the cooldown")
            #expect(try report(database, "sk-key-1", 429, retryAfter: 10_000_000) == "cooling_down")
            #expect((86_390...86_400).contains(try left()), "capped at one day")
            // 2xx clears the cooldown and the failures.
            #expect(try report(database, "sk-key-1", 204) == "available")
            #expect(try column(database, "consecutive_failures", key: 1) == "0")

            // 429 without Retry-After: 10 s, then 20 s.
            #expect(try report(database, "sk-key-2", 429) == "cooling_down")
            #expect(
                (9...10).contains(
                    try Int(column(database, "ceil(extract(epoch FROM cooldown_until - now()))", key: 2) ?? "") ?? -1))
            try run(database, "UPDATE provider_api_keys SET cooldown_until = '-infinity' WHERE key_number = 2")
            #expect(try report(database, "sk-key-2", 429) == "cooling_down")
            #expect(
                (19...20).contains(
                    try Int(column(database, "ceil(extract(epoch FROM cooldown_until - now()))", key: 2) ?? "") ?? -1))
            // ... doubling up to 10 minutes, however long the run of failures.
            try run(
                database,
                "UPDATE provider_api_keys SET cooldown_until = '-infinity', consecutive_failures = 9 WHERE key_number = 2"
            )
            #expect(try report(database, "sk-key-2", 429) == "cooling_down")
            #expect(
                (590...600).contains(
                    try Int(column(database, "ceil(extract(epoch FROM cooldown_until - now()))", key: 2) ?? "") ?? -1))

            // 401: disabled automatically, and no success report enables it again.
            #expect(try report(database, "sk-key-3", 401) == "disabled")
            #expect(try column(database, "disabled_reason", key: 3)?.hasPrefix("HTTP 401 reported at ") == true)
            #expect(try column(database, "disabled_automatically", key: 3) == "true")
            #expect(try report(database, "sk-key-3", 200) == "disabled")
            // 402 and 403 too; the reporter is the database user that called.
            #expect(try report(database, "sk-key-5", 402) == "disabled")
            #expect(try report(database, "sk-key-6", 403) == "disabled")
            #expect(try column(database, "disabled_reason", key: 6)?.hasPrefix("HTTP 403 reported at ") == true)
            let reporter = try database.values("SELECT session_user::text AS value")
            #expect(
                try [3, 5, 6].map { try column(database, "disabled_by", key: $0) } == reporter + reporter + reporter)

            // 5xx and 408: counted; the third in a row cools the key down for 30 s.
            #expect(try report(database, "sk-key-4", 500) == "available")
            #expect(try report(database, "sk-key-4", 408) == "available")
            #expect(try report(database, "sk-key-4", 503) == "cooling_down")
            #expect(
                (29...30).contains(
                    try Int(column(database, "ceil(extract(epoch FROM cooldown_until - now()))", key: 4) ?? "") ?? -1))

            // Keys not in the pool, and statuses that are not HTTP statuses.
            #expect(try report(database, "sk-not-stored-anywhere", 429) == nil)
            #expect(throws: PGError.self) { try report(database, "sk-key-1", 999) }
        }
    }

    /// Eight backends reporting 429s on the same keys at once: no deadlock, no error, and every
    /// key ends cooling down at least as long as the longest Retry-After it was given.
    @Test func concurrentReportsNeverShortenACooldown() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [1, 2, 3])
            let failures = Locked(0)
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                do {
                    let connection = try database.connect()
                    for round in 0..<40 {
                        let key = "sk-key-\(1 + (worker + round) % 3)"
                        let retryAfter = 60 + (worker * 37 + round * 11) % 600
                        try connection.query(
                            "SELECT report_api_key_result('openai', \(key), 429, \(retryAfter))", step: "report")
                    }
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
            #expect(failures.withLock { $0 } == 0)
            for key in 1...3 {
                let left =
                    try Int(column(database, "ceil(extract(epoch FROM cooldown_until - now()))", key: key) ?? "") ?? 0
                #expect(left > 590, "key \(key): \(left) s left")
            }
        }
    }

    @Test func theStoreSetsAndClearsStates() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            let openai = try ProviderName(validating: "openai")
            try store.addProvider(openai)
            let options = NewKeyOptions(label: try .label("team-a"), expiry: try Expiry(parsing: "2099-01-01"))
            #expect(try store.addKey(APIKey(validating: "sk-lifecycle-key-0001"), to: openai, options: options) == 1)
            #expect(try column(database, "label", key: 1) == "team-a")
            #expect(try column(database, "expires_at AT TIME ZONE 'UTC'", key: 1) == "2099-01-01 00:00:00")
            let actor = try OperatorText.actor("ops@host")
            #expect(
                try store.disableKey(number: 1, of: openai, reason: try .reason("revoked"), actor: actor).outcome
                    == .disabled)
            #expect(try store.disableKey(number: 1, of: openai, reason: nil, actor: actor).outcome == .alreadyDisabled)
            #expect(
                try store.disableKey(number: 1, of: openai, reason: try .reason("revoked"), actor: actor).outcome
                    == .alreadyDisabled)
            #expect(
                try store.disableKey(number: 1, of: openai, reason: try .reason("leaked"), actor: actor).outcome
                    == .reasonChanged)
            #expect(try column(database, "disabled_by", key: 1) == "ops@host")
            try run(
                database,
                "UPDATE provider_api_keys SET cooldown_until = now() + interval '1 h', consecutive_failures = 4")
            // A new key under the number starts available and keeps its label.
            _ = try store.updateKey(number: 1, of: openai, to: APIKey(validating: "sk-lifecycle-key-0002"))
            #expect(try column(database, KeySQL.state, key: 1) == "available")
            #expect(try column(database, "label", key: 1) == "team-a")
            #expect(try column(database, "consecutive_failures", key: 1) == "0")
            _ = try store.disableKey(number: 1, of: openai, reason: nil, actor: actor)
            #expect(try store.enableKey(number: 1, of: openai).changed)
            _ = try store.setLabel(try .label(""), number: 1, of: openai)
            #expect(try column(database, "label", key: 1) == nil)
            _ = try store.setExpiry(.never, number: 1, of: openai)
            #expect(try column(database, "expires_at", key: 1) == nil)
            #expect(throws: KeyStoreError.keyNotFound(openai, number: 9)) { try store.enableKey(number: 9, of: openai) }
        }
    }

    /// The state the listing computes in Swift's SQL is the one report_api_key_result returns.
    @Test func listingAndReportAgreeOnStates() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seedOneKeyPerState(database)
            var listed: [Int: KeyState] = [:]
            try database.store().list(provider: nil, summaries: { _ in }, key: { listed[$0.number] = $0.state })
            for number in 1...4 {
                #expect(try report(database, "sk-key-\(number)", 404) == listed[number]?.rawValue)
                #expect(
                    try column(database, "keyadmin.key_state(disabled_at, expires_at, cooldown_until)", key: number)
                        == listed[number]?.rawValue)
            }
            #expect(listed == [1: .disabled, 2: .expired, 3: .coolingDown, 4: .available])
            // A 5xx changes the row (a failure counted): the state returned is the updated row's.
            for number in 1...4 {
                #expect(try report(database, "sk-key-\(number)", 500) == listed[number]?.rawValue)
            }
        }
    }
}
