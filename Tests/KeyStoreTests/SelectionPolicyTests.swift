import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// Migration 028: tiers, weights and sticky picks, checked against their definitions with seeded
/// draws (the same answer on every run; a biased pick still fails).
@Suite struct SelectionPolicyTests {
    /// Chi-square critical values at p = 0.001 by degrees of freedom.
    static let critical: [Int: Double] = [
        1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32, 8: 26.12, 9: 27.88, 10: 29.59,
        11: 31.26, 12: 32.91, 13: 34.53, 14: 36.12, 15: 37.70,
    ]

    /// Keys of provider "openai" from rows of (number, tier, weight, state): `available`,
    /// `disabled`, `cooling`, `expired`, or `gone` (added, then deleted: a gap in the numbers).
    func pool(_ database: TestDatabase, _ keys: [(number: Int, tier: Int, weight: Int, state: String)]) throws {
        let connection = try database.connect()
        try connection.query("INSERT INTO providers (provider_name) VALUES ('openai')", step: "provider")
        for key in keys {
            try connection.query(
                """
                INSERT INTO provider_api_keys (provider_id, key_number, api_key, tier, weight, disabled_at, cooldown_until, expires_at)
                SELECT p.id, \(key.number), \("sk-policy-key-\(key.number)"), \(key.tier)::smallint, \(key.weight),
                       CASE WHEN \(key.state) = 'disabled' THEN now() END,
                       CASE WHEN \(key.state) = 'cooling' THEN now() + interval '1 hour' ELSE '-infinity' END,
                       CASE WHEN \(key.state) = 'expired' THEN now() - interval '1 hour' END
                FROM providers AS p WHERE p.provider_name = 'openai'
                """, step: "key")
        }
        try connection.query(
            "DELETE FROM provider_api_keys WHERE key_number = ANY(\(keys.filter { $0.state == "gone" }.map(\.number))::integer[])",
            step: "gaps")
    }

    func chiSquare(_ counts: [String: Int], expected weights: [String: Int], draws: Int) -> Double {
        let total = Double(weights.values.reduce(0, +))
        return weights.reduce(0.0) { sum, entry in
            let expected = Double(draws) * Double(entry.value) / total
            return sum + pow(Double(counts[entry.key] ?? 0) - expected, 2) / expected
        }
    }

    /// Pools for the test below: rows of (number, tier, weight, state).
    static let proportionShapes: [[(Int, Int, Int, String)]] = [
        // Weights 1-4 with disabled, cooling, expired keys and gaps interleaved.
        (1...14).map { n in
            (
                n, 1, 1 + n % 4,
                n % 5 == 0 ? "disabled" : n % 7 == 0 ? "cooling" : n == 11 ? "expired" : n == 3 ? "gone" : "available"
            )
        },
        // One heavy key among light ones.
        (1...6).map { n in (n, 1, n == 4 ? 10 : 1, "available") },
        // Weights far apart: the light key is accepted once in 1000 probes, and still drawn in proportion.
        [(1, 1, 1000, "available"), (2, 1, 1, "available"), (3, 1, 5, "disabled")],
        // Tier 1 cooling at weight 1; tier 2's probes are direct and bounded by its own largest weight, 7.
        [(1, 1, 1, "cooling"), (2, 1, 1, "cooling")]
            + (3...14).map { n -> (Int, Int, Int, String) in (n, 2, 4 + n % 4, "available") },
    ]

    @Test(arguments: Self.proportionShapes)
    func randomDrawsAreInProportionToWeight(_ keys: [(Int, Int, Int, String)]) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, keys.map { (number: $0.0, tier: $0.1, weight: $0.2, state: $0.3) })
            // The lightest key of the last shape expects about 10 of these (chi-square wants 5).
            let draws = 10_000
            var counts: [String: Int] = [:]
            for key in try randomDraws(draws, from: database, seed: 0.42) { counts[key ?? "none", default: 0] += 1 }
            let available = Dictionary(
                uniqueKeysWithValues: keys.filter { $0.3 == "available" }.map { ("sk-policy-key-\($0.0)", $0.2) })
            #expect(Set(counts.keys).isSubset(of: Set(available.keys)), "drew an unavailable key: \(counts)")
            let chi = chiSquare(counts, expected: available, draws: draws)
            #expect(chi < Self.critical[available.count - 1] ?? 40, "chi-square \(chi): \(counts)")
        }
    }

    @Test func aBackupTierServesOnlyWhileThePrimaryHasNoKeyAndGivesWayAgain() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(
                database,
                [(1, 1, 1, "available"), (2, 1, 3, "available"), (3, 2, 1, "available"), (4, 2, 1, "available")])
            let primary: Set<String?> = ["sk-policy-key-1", "sk-policy-key-2"]
            let backup: Set<String?> = ["sk-policy-key-3", "sk-policy-key-4"]
            #expect(Set(try randomDraws(400, from: database, seed: 0.1)) == primary)
            // Tier 1 cools down: tier 2 serves.
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour' WHERE tier = 1", step: "cool")
            #expect(Set(try randomDraws(400, from: database, seed: 0.2)) == backup)
            // One tier-1 key's cooldown ends: tier 1 serves again, with that key alone.
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = '-infinity' WHERE key_number = 2", step: "recover")
            #expect(Set(try randomDraws(400, from: database, seed: 0.3)) == ["sk-policy-key-2"])
            // Nothing available anywhere: the key whose cooldown ends first, whatever its tier.
            try database.connect().query(
                """
                UPDATE provider_api_keys SET cooldown_until = now() + make_interval(mins => 60 - key_number * 10)
                """, step: "storm")
            #expect(Set(try randomDraws(50, from: database, seed: 0.4)) == ["sk-policy-key-4"])
        }
    }

    /// `count` sticky picks, one per affinity "conversation-i".
    func stickyPicks(_ database: TestDatabase, _ count: Int) throws -> [String?] {
        try database.values(
            """
            SELECT get_sticky_api_key('openai', 'conversation-' || i) AS value
            FROM generate_series(1, \(count)) AS i ORDER BY i
            """)
    }

    @Test func stickyPicksStayAndOnlyTheLostKeysAffinitiesMove() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, (1...20).map { (number: $0, tier: 1, weight: 1, state: "available") })
            let before = try stickyPicks(database, 2_000)
            #expect(try stickyPicks(database, 2_000) == before, "the same affinity, the same key")
            try database.connect().query(
                "UPDATE provider_api_keys SET disabled_at = now() WHERE key_number = 7", step: "disable")
            let after = try stickyPicks(database, 2_000)
            for (old, new) in zip(before, after) {
                if old == "sk-policy-key-7" {
                    #expect(new != "sk-policy-key-7")
                } else {
                    #expect(new == old, "an affinity moved off a key that is still available")
                }
            }
            // A key added: about 1/N of the affinities move to it, and no others move.
            try database.connect().query(
                """
                INSERT INTO provider_api_keys (provider_id, key_number, api_key)
                SELECT id, 21, 'sk-policy-key-21' FROM providers
                """, step: "add")
            let grown = try stickyPicks(database, 2_000)
            let moved = zip(after, grown).filter { $0 != $1 }
            #expect(moved.allSatisfy { $0.1 == "sk-policy-key-21" }, "an affinity moved between old keys")
            #expect(moved.count <= 2 * 2_000 / 20, "\(moved.count) of 2000 moved")
            #expect(moved.count > 0)
            // The disabled key back: its affinities come back to it (but for the few that the
            // added key took meanwhile, as it took the same share of every key's).
            try database.connect().query(
                "UPDATE provider_api_keys SET disabled_at = NULL WHERE key_number = 7", step: "enable")
            let back = try stickyPicks(database, 2_000)
            let returning = zip(before, back).filter { $0.0 == "sk-policy-key-7" }.map(\.1)
            #expect(returning.allSatisfy { $0 == "sk-policy-key-7" || $0 == "sk-policy-key-21" }, "\(returning)")
            #expect(returning.filter { $0 == "sk-policy-key-7" }.count * 10 >= returning.count * 8)
        }
    }

    @Test func stickyPicksAreInProportionToWeightAndFollowTheTiers() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(
                database,
                (1...8).map { n in
                    (
                        number: n, tier: n > 6 ? 2 : 1, weight: n > 6 ? 1 : 1 + n % 3,
                        state: n == 5 ? "gone" : "available"
                    )
                })
            let picks = try stickyPicks(database, 12_000)
            var counts: [String: Int] = [:]
            for key in picks { counts[key ?? "none", default: 0] += 1 }
            let weights = Dictionary(
                uniqueKeysWithValues: [1, 2, 3, 4, 6].map { ("sk-policy-key-\($0)", 1 + $0 % 3) })
            #expect(Set(counts.keys) == Set(weights.keys), "\(counts)")
            let chi = chiSquare(counts, expected: weights, draws: 12_000)
            #expect(chi < Self.critical[weights.count - 1] ?? 40, "chi-square \(chi): \(counts)")
            // Tier 1 cools down: the backups serve; when it comes back, every affinity returns.
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour' WHERE tier = 1", step: "cool")
            let backups = try stickyPicks(database, 300)
            #expect(Set(backups) == ["sk-policy-key-7", "sk-policy-key-8"])
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = '-infinity' WHERE tier = 1", step: "recover")
            #expect(try stickyPicks(database, 300) == Array(picks.prefix(300)))
        }
    }

    /// Tier 1 holds nine keys in ten and eight in nine of them are enabled, so its probes are
    /// direct: a number drawn from all of the provider's, whose key may be in tier 2, expired,
    /// disabled or cooling. Each is a miss while tier 1 serves, for both picks (038 checks the
    /// sticky probe's key in PL/pgSQL; no other pool here has a direct tier holding all four).
    @Test func aDirectTiersProbesTakeOnlyItsUsableKeys() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let tier2 = { (n: Int) in n % 10 == 0 }
            let states = [3: "expired", 5: "disabled", 7: "cooling"]
            let keys = (1...40).map { n in
                (number: n, tier: tier2(n) ? 2 : 1, weight: 1, state: states[n % 10] ?? "available")
            }
            try pool(database, keys)
            let usable = Set((1...40).filter { !tier2($0) && states[$0 % 10] == nil }.map { "sk-policy-key-\($0)" })
            let unusable = { (picks: [String?]) in picks.filter { !($0.map(usable.contains) ?? false) } }
            let sticky = try stickyPicks(database, 2_000)
            #expect(unusable(sticky).isEmpty, "\(Set(unusable(sticky)))")
            let random = try randomDraws(2_000, from: database, seed: 0.5)
            #expect(unusable(random).isEmpty, "\(Set(unusable(random)))")
        }
    }

    @Test func bothPicksReadOnlyAndTheServiceRoleNeedsNothingElse() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            try pool(database, [(1, 1, 1, "cooling"), (2, 2, 4, "available"), (3, 2, 1, "available")])
            let connection = try database.connect()
            let picks: [String?] = try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
                try transaction.execute(
                    SQLScript(trustedSQL: "SET LOCAL ROLE service_role"), step: "as the service role")
                return try transaction.query(
                    """
                    SELECT get_random_api_key('openai') AS random, get_sticky_api_key('openai', 'conversation-1') AS sticky
                    """, step: "read-only picks"
                ).rows.flatMap { [try $0.decodeIfPresent("random"), try $0.decodeIfPresent("sticky")] }
            }
            #expect(picks.allSatisfy { $0 == "sk-policy-key-2" || $0 == "sk-policy-key-3" }, "\(picks)")
            // Refused by the function's own privilege, not by the table behind it: anon may not
            // even call it.
            for function in [
                "get_sticky_api_key('openai', 'x')", "get_random_api_key('openai')", "get_api_key('openai', 2)",
            ] {
                let refused = try database.refusal("SELECT \(function)", as: "anon")
                #expect(refused?.sqlState == .insufficientPrivilege, "\(function)")
                let name = String(function.prefix { $0 != "(" })
                #expect(
                    refused?.message.contains("permission denied for function \(name)") == true,
                    "\(String(describing: refused?.message))")
            }
        }
    }

    /// Keys written by psql, above the number keyadmin last gave, or renumbered there: the picks
    /// probe up to providers.last_key_number, which triggers raise for every writer.
    @Test func keysNumberedByAnyWriterAreDrawn() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, [(1, 1, 1, "disabled"), (2, 1, 1, "disabled")])
            try database.connect().query(
                "UPDATE provider_api_keys SET key_number = 700, disabled_at = NULL WHERE key_number = 2",
                step: "renumber")
            #expect(Set(try randomDraws(50, from: database, seed: 0.5)) == ["sk-policy-key-2"])
            #expect(try database.values("SELECT last_key_number::text AS value FROM providers") == ["700"])
            #expect(try stickyPicks(database, 20).allSatisfy { $0 == "sk-policy-key-2" })
        }
    }

    /// The weighted pick's direct probes accept with weight / the tier's largest weight
    /// (providers.largest_weights, migration 039), which every writer keeps: raised or lowered
    /// within a class (no slot moves), the heaviest key deleted, moved to another tier or
    /// disabled (it still counts: a bound above every available weight keeps the draw exact).
    @Test func eachTiersLargestWeightFollowsEveryWriter() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, [(1, 1, 8, "available"), (2, 1, 9, "available"), (3, 1, 12, "available")])
            let store = try database.store()
            let openai = try ProviderName(validating: "openai")
            func largest() throws -> [String?] {
                try database.values("SELECT largest_weights::text AS value FROM providers")
            }
            #expect(try largest() == ["{12,1,1,1,1,1,1,1,1}"])
            #expect(try store.setWeight(try KeyWeight(validating: "15"), number: 2, of: openai).changed)
            #expect(try largest() == ["{15,1,1,1,1,1,1,1,1}"], "raised within class 8-15")
            #expect(try store.setWeight(try KeyWeight(validating: "10"), number: 2, of: openai).changed)
            #expect(try largest() == ["{12,1,1,1,1,1,1,1,1}"], "lowered within its class: the next heaviest")
            let psql = try database.connect()
            try psql.query("UPDATE provider_api_keys SET disabled_at = now() WHERE key_number = 3", step: "disable")
            #expect(try largest() == ["{12,1,1,1,1,1,1,1,1}"], "a disabled key still counts")
            try psql.query("UPDATE provider_api_keys SET tier = 4 WHERE key_number = 3", step: "tier")
            #expect(try largest() == ["{10,1,1,12,1,1,1,1,1}"])
            try psql.query("DELETE FROM provider_api_keys WHERE key_number = 2", step: "delete")
            #expect(try largest() == ["{8,1,1,12,1,1,1,1,1}"])
            try psql.query(
                "INSERT INTO provider_api_keys (provider_id, key_number, api_key, weight) SELECT id, 9, 'sk-policy-key-9', 11 FROM providers",
                step: "insert")
            #expect(try largest() == ["{11,1,1,12,1,1,1,1,1}"])
            try psql.query("TRUNCATE provider_api_keys", step: "truncate")
            #expect(try largest() == ["{1,1,1,1,1,1,1,1,1}"])
        }
    }

    /// Two operators change weights of one tier at once, neither moving a slot: the second waits
    /// for the first (the provider's row) before it reads the tier's largest weight, and so
    /// counts the first's raise. Deterministic: the second is seen waiting for a lock (in this
    /// test's database) before the first commits.
    @Test func concurrentWeightChangesKeepTheTiersLargestWeight() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, [(1, 1, 8, "available"), (2, 1, 9, "available"), (3, 1, 12, "available")])
            let first = try database.connect()
            try first.query("BEGIN", step: "first operator")
            try first.query("UPDATE provider_api_keys SET weight = 15 WHERE key_number = 2", step: "first operator")
            let failure = Locked<String?>(nil)
            let finished = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                defer { finished.signal() }
                do {
                    try database.connect().query(
                        "UPDATE provider_api_keys SET weight = 10 WHERE key_number = 3", step: "second operator")
                } catch {
                    failure.withLock { $0 = "\(error)" }
                }
            }
            let observer = try database.connect()
            let waiting = try eventually {
                try observer.query(
                    """
                    SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                                   WHERE datname = current_database() AND wait_event_type = 'Lock') AS waiting
                    """, step: "locks"
                ).singleRow().decode("waiting")
            }
            #expect(waiting, "the second operator never waited for the first")
            try first.query("COMMIT", step: "first operator")
            finished.wait()
            #expect(failure.withLock { $0 } == nil)
            #expect(
                try database.values("SELECT largest_weights::text AS value FROM providers") == ["{15,1,1,1,1,1,1,1,1}"])
        }
    }

    /// A weight raised within its class moves no slot, and yet the key gets its new share: 15
    /// among weights 8 and 9, where a bound left at 9 would give it 9's.
    @Test func aWeightRaisedWithinItsClassGetsItsShare() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weights = [9, 8, 8, 9, 8, 9]
            try pool(
                database,
                weights.enumerated().map { (number: $0.offset + 1, tier: 1, weight: $0.element, state: "available") })
            try database.connect().query("UPDATE provider_api_keys SET weight = 15 WHERE key_number = 1", step: "psql")
            let draws = 6_000
            var counts: [String: Int] = [:]
            for key in try randomDraws(draws, from: database, seed: 0.42) { counts[key ?? "none", default: 0] += 1 }
            var expected = Dictionary(
                uniqueKeysWithValues: weights.enumerated().map { ("sk-policy-key-\($0.offset + 1)", $0.element) })
            expected["sk-policy-key-1"] = 15
            let chi = chiSquare(counts, expected: expected, draws: draws)
            #expect(chi < Self.critical[expected.count - 1] ?? 0, "chi-square \(chi): \(counts)")
        }
    }

    /// The direct probe's bound (providers.max_weights) is the bound of the tier's heaviest weight
    /// class (migration 030), whoever changes a weight or a tier, and falls back when it goes.
    @Test func eachTiersBoundIsItsHeaviestClasssBound() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, [(1, 1, 1, "available"), (2, 2, 1, "available")])
            let store = try database.store()
            let openai = try ProviderName(validating: "openai")
            func bound() throws -> [String?] { try database.values("SELECT max_weights::text AS value FROM providers") }
            #expect(try store.setWeight(try KeyWeight(validating: "40"), number: 2, of: openai).changed)
            #expect(try bound() == ["{1,63,1,1,1,1,1,1,1}"], "40 is in class 32-63")
            #expect(try store.setTier(try KeyTier(validating: "3"), number: 2, of: openai).changed)
            #expect(try bound() == ["{1,1,63,1,1,1,1,1,1}"], "the bound moves with the key")
            #expect(try store.setWeight(try KeyWeight(validating: "2"), number: 2, of: openai).changed)
            #expect(try bound() == ["{1,1,3,1,1,1,1,1,1}"], "and falls when its weight does")
            #expect(try !store.setWeight(try KeyWeight(validating: "2"), number: 2, of: openai).changed)
            try database.connect().query(
                "UPDATE provider_api_keys SET weight = 1000 WHERE key_number = 1", step: "psql")
            #expect(try bound() == ["{1000,1,3,1,1,1,1,1,1}"])
        }
    }
}
