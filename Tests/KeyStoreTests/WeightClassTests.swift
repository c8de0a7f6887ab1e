import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// Migration 030: the picks through weight classes and dense slots, for pools shaped to hurt
/// them, and the slots kept consistent by every writer. Draws are seeded (the same answer on
/// every run); a biased pick still fails.
@Suite struct WeightClassTests {
    /// Keys 1...count of provider "openai", key n with weight `weight(n)`, tier `tier(n)` and
    /// state `state(n)`: `available`, `disabled`, `cooling`, `expired`, or `gone` (a gap).
    func pool(
        _ database: TestDatabase, count: Int, weight: (Int) -> Int = { _ in 1 }, tier: (Int) -> Int = { _ in 1 },
        state: (Int) -> String = { _ in "available" }, provider: String = "openai"
    ) throws {
        let numbers = Array(1...count)
        let connection = try database.connect()
        try connection.query("INSERT INTO providers (provider_name) VALUES (\(provider))", step: "provider")
        try connection.query(
            """
            INSERT INTO provider_api_keys (provider_id, key_number, api_key, tier, weight, disabled_at, cooldown_until, expires_at)
            SELECT p.id, k.n, \(provider == "openai" ? "sk-policy-key-" : "sk-\(provider)-key-") || k.n, k.tier, k.weight,
                   CASE WHEN k.state = 'disabled' THEN now() END,
                   CASE WHEN k.state = 'cooling' THEN now() + interval '1 hour' ELSE '-infinity' END,
                   CASE WHEN k.state = 'expired' THEN now() - interval '1 hour' END
            FROM providers AS p,
                 unnest(\(numbers)::integer[], \(numbers.map(weight))::integer[], \(numbers.map(tier))::smallint[],
                        \(numbers.map(state))::text[]) AS k(n, weight, tier, state)
            WHERE p.provider_name = \(provider)
            """, step: "keys")
        try connection.query(
            """
            DELETE FROM provider_api_keys AS k USING providers AS p
            WHERE p.id = k.provider_id AND p.provider_name = \(provider)
              AND k.key_number = ANY(\(numbers.filter { state($0) == "gone" })::integer[])
            """, step: "gaps")
        try connection.query("ANALYZE provider_api_keys", step: "statistics")
    }

    /// The chi-square statistic of `counts` against `weights`, and its critical value at
    /// p = 0.001 (Wilson-Hilferty, within 1% of the table for these degrees of freedom).
    func chiSquare(_ counts: [String: Int], expected weights: [String: Int]) -> (value: Double, critical: Double) {
        let draws = Double(counts.values.reduce(0, +))
        let total = Double(weights.values.reduce(0, +))
        let value = weights.reduce(0.0) { sum, entry in
            let expected = draws * Double(entry.value) / total
            return sum + pow(Double(counts[entry.key] ?? 0) - expected, 2) / expected
        }
        let k = Double(weights.count - 1)
        let critical = k * pow(1 - 2 / (9 * k) + 3.0902 * (2 / (9 * k)).squareRoot(), 3)
        return (value, critical)
    }

    func counts(_ keys: [String?]) -> [String: Int] {
        keys.reduce(into: [:]) { $0[$1 ?? "none", default: 0] += 1 }
    }

    /// Keys and weights of the available keys, as the picks name them.
    func available(_ count: Int, weight: (Int) -> Int, state: (Int) -> String) -> [String: Int] {
        Dictionary(
            uniqueKeysWithValues: (1...count).filter { state($0) == "available" }.map {
                ("sk-policy-key-\($0)", weight($0))
            })
    }

    /// Rows that break the slots' rules: each key in one slot of its provider, tier and class;
    /// each class numbered 1...count with no gap; the providers' counts, starts, masses and
    /// bounds what the slots make them, and each tier's largest weight its keys' (migration 039).
    static let slotProblems: Query = """
        SELECT 'key without its slot: ' || k.id AS value FROM provider_api_keys AS k
          LEFT JOIN keyadmin.key_slots AS s ON s.key_id = k.id
          WHERE s.key_id IS NULL OR s.provider_id <> k.provider_id OR s.tier <> k.tier
             OR s.weight_class <> keyadmin.weight_class(k.weight)
        UNION ALL
        SELECT 'slot without key: ' || s.key_id FROM keyadmin.key_slots AS s
          LEFT JOIN provider_api_keys AS k ON k.id = s.key_id WHERE k.id IS NULL
        UNION ALL
        SELECT format('class %s/%s/%s numbered %s..%s for %s keys', g.provider_id, g.tier, g.weight_class, g.lo, g.hi, g.n)
        FROM (SELECT provider_id, tier, weight_class, count(*) AS n, min(slot) AS lo, max(slot) AS hi
              FROM keyadmin.key_slots GROUP BY 1, 2, 3) AS g
        WHERE g.lo <> 1 OR g.hi <> g.n
        UNION ALL
        SELECT format('provider %s element %s: %s %s %s', p.id, i, p.slot_counts[i], p.slot_starts[i], coalesce(c.n, 0))
        FROM providers AS p CROSS JOIN generate_series(1, 90) AS i
        -- Counted once per provider and class, not once per element (that scanned the slots 90 times).
        LEFT JOIN (SELECT s.provider_id, s.tier * 10 - 9 + s.weight_class AS element, count(*) AS n
                   FROM keyadmin.key_slots AS s GROUP BY 1, 2) AS c ON c.provider_id = p.id AND c.element = i
        WHERE p.slot_counts[i] <> coalesce(c.n, 0)
           OR p.slot_starts[i] <> (SELECT coalesce(sum(p.slot_counts[j]::bigint * keyadmin.weight_class_bound((j - 1) % 10)), 0)
                                   FROM generate_series(((i - 1) / 10) * 10 + 1, i - 1) AS j)
        UNION ALL
        SELECT format('provider %s tier %s: mass %s, bound %s', p.id, t, p.tier_masses[t], p.max_weights[t])
        FROM providers AS p CROSS JOIN generate_series(1, 9) AS t
        WHERE p.tier_masses[t] <> (SELECT coalesce(sum(p.slot_counts[i]::bigint * keyadmin.weight_class_bound((i - 1) % 10)), 0)
                                   FROM generate_series(t * 10 - 9, t * 10) AS i)
           OR p.max_weights[t] <> coalesce((SELECT max(keyadmin.weight_class_bound((i - 1) % 10))
                                            FROM generate_series(t * 10 - 9, t * 10) AS i WHERE p.slot_counts[i] > 0), 1)
        UNION ALL
        SELECT format('provider %s tier %s: largest weight %s', p.id, t, p.largest_weights[t])
        FROM providers AS p CROSS JOIN generate_series(1, 9) AS t
        WHERE p.largest_weights[t]
              <> coalesce((SELECT max(k.weight) FROM provider_api_keys AS k WHERE k.provider_id = p.id AND k.tier = t), 1)
        """

    // MARK: - Exact in proportion to weight, whatever the shape

    static let shapes: [(name: String, count: Int, weight: @Sendable (Int) -> Int, state: @Sendable (Int) -> String)] =
        [
            // One key at 1000 among keys at 1, 30% unusable (interleaved): the heavy key gets about
            // 1000/1210 of the draws, each light key its 1/1210.
            (
                "one heavy key", 300, { $0 == 7 ? 1000 : 1 },
                { n in n % 10 == 1 ? "disabled" : n % 10 == 2 ? "cooling" : n % 10 == 3 ? "expired" : "available" }
            ),
            // Zipf-like weights 1-1000 over every class, a tenth cooling and gaps.
            (
                "Zipf-like weights", 60, { n in max(1, 1000 / n) },
                { n in n % 10 == 4 ? "cooling" : n % 13 == 0 ? "gone" : "available" }
            ),
            // Three keys available among numbers 1-1000 (the rest cooling): the sparse read.
            (
                "three available of a thousand", 1000, { n in n == 500 ? 5 : n == 1000 ? 2 : 1 },
                { n in [3, 500, 1000].contains(n) ? "available" : "cooling" }
            ),
        ]

    /// Enough for every light key of the heavy shape to expect about 10 draws (chi-square wants
    /// 5), and for the planted bugs in docs/development.md to fail the test by far.
    static let shapeDraws = 12_000

    @Test(arguments: 0..<3)
    func randomDrawsFollowWeightForAnyShape(_ index: Int) throws {
        let shape = Self.shapes[index]
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, count: shape.count, weight: shape.weight, state: shape.state)
            let expected = available(shape.count, weight: shape.weight, state: shape.state)
            let drawn = counts(try randomDraws(Self.shapeDraws, from: database, seed: 0.42))
            #expect(Set(drawn.keys).isSubset(of: Set(expected.keys)), "\(shape.name): an unavailable key was drawn")
            // Cells expected below 5 draws are pooled into one, as chi-square requires.
            let total = Double(expected.values.reduce(0, +))
            let small = Set(expected.filter { Double(Self.shapeDraws) * Double($0.value) / total < 5 }.keys)
            var pooledCounts = drawn.filter { !small.contains($0.key) }
            var pooledWeights = expected.filter { !small.contains($0.key) }
            if !small.isEmpty {
                pooledCounts["light"] = drawn.filter { small.contains($0.key) }.values.reduce(0, +)
                pooledWeights["light"] = expected.filter { small.contains($0.key) }.values.reduce(0, +)
            }
            let (chi, critical) = chiSquare(pooledCounts, expected: pooledWeights)
            #expect(chi < critical, "\(shape.name): chi-square \(chi) >= \(critical)")
        }
    }

    /// The sticky pick's fallback when its probes miss (three live keys among numbers 1-1000)
    /// follows weight too: over many affinities, each key in proportion.
    @Test func stickyFallbackFollowsWeight() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weight: (Int) -> Int = { n in n == 500 ? 5 : n == 1000 ? 2 : 1 }
            let state: (Int) -> String = { n in [3, 500, 1000].contains(n) ? "available" : "cooling" }
            try pool(database, count: 1000, weight: weight, state: state)
            let picks = try database.values(
                "SELECT get_sticky_api_key('openai', 'conversation-' || i) AS value FROM generate_series(1, 8000) AS i")
            let (chi, critical) = chiSquare(counts(picks), expected: available(1000, weight: weight, state: state))
            #expect(chi < critical, "chi-square \(chi) >= \(critical): \(counts(picks))")
        }
    }

    /// A direct tier (weights 1 and 2) with a sixteenth of 10,000 keys available: more than
    /// the bounded read takes (283), so most picks end in round 4's 512 probes that stop at the
    /// first accepted key. Every key by its weight, the key numbers' both halves alike.
    @Test func aSixteenthAvailableIsDrawnByWeightPastTheBoundedRead() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weight: (Int) -> Int = { n in n % 3 == 0 ? 2 : 1 }
            let state: (Int) -> String = { n in n % 16 == 3 ? "available" : "cooling" }
            try pool(database, count: 10_000, weight: weight, state: state)
            let drawn = try randomDraws(6_000, from: database, seed: 0.45)
            let (chi, critical) = chiSquare(counts(drawn), expected: available(10_000, weight: weight, state: state))
            #expect(chi < critical, "chi-square by key \(chi) >= \(critical)")
        }
    }

    /// A direct tier whose probes meet few keys available, one heavy among light ones (31 of
    /// 1,000; the cooling keys heavy, so that the tier stays direct): the read's uniform draws,
    /// each accepted with weight / the largest weight read (037), mostly fail, and the walk over
    /// running weights chooses. Each key by its weight either way.
    @Test func aHeavyKeyAmongFewAvailableIsDrawnByWeightPastTheUniformDraws() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weight: (Int) -> Int = { n in n % 32 != 0 || n == 512 ? 1000 : 1 }
            let state: (Int) -> String = { n in n % 32 == 0 ? "available" : "cooling" }
            try pool(database, count: 1_000, weight: weight, state: state)
            let drawn = counts(try randomDraws(12_000, from: database, seed: 0.61))
            let (chi, critical) = chiSquare(drawn, expected: available(1_000, weight: weight, state: state))
            #expect(chi < critical, "chi-square \(chi) >= \(critical): \(drawn)")
        }
    }

    /// Many keys available, all light, among heavy keys that are cooling: probes land on the
    /// heavy ones, so every round misses and the pick reads the available keys (300: more than
    /// the sparse read's 256, so all of them); still exact, for each key and by weight.
    @Test func lightAvailableKeysAmongHeavyCoolingOnesAreDrawnByWeight() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weight: (Int) -> Int = { n in n <= 400 ? 1000 : n % 2 == 0 ? 2 : 1 }
            let state: (Int) -> String = { n in n <= 400 ? "cooling" : "available" }
            try pool(database, count: 700, weight: weight, state: state)
            let drawn = try randomDraws(6_000, from: database, seed: 0.7)
            let (keyChi, keyCritical) = chiSquare(counts(drawn), expected: available(700, weight: weight, state: state))
            #expect(keyChi < keyCritical, "chi-square by key \(keyChi) >= \(keyCritical)")
            #expect(
                drawn.allSatisfy { key in key.map { Int($0.split(separator: "-").last ?? "0") ?? 0 > 400 } ?? false })
            let byWeight = drawn.reduce(into: [String: Int]()) { sums, key in
                let number = Int(key?.split(separator: "-").last ?? "0") ?? 0
                sums["weight \(weight(number))", default: 0] += 1
            }
            // 150 keys of weight 1 and 150 of weight 2: a third and two thirds.
            let (chi, critical) = chiSquare(byWeight, expected: ["weight 1": 150, "weight 2": 300])
            #expect(chi < critical, "chi-square \(chi): \(byWeight)")
        }
    }

    /// Probes through the slots meet heavy cooling keys, and the light ones available (295) are
    /// more than the sparse read takes (256): the pick reads them all, never only the first 257.
    @Test func moreAvailableKeysThanTheSparseReadTakesAreAllDrawn() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weight: (Int) -> Int = { n in n <= 50 ? 1000 : 1 }
            let state: (Int) -> String = { n in n <= 50 ? "cooling" : n % 10 == 0 ? "available" : "gone" }
            try pool(database, count: 3_000, weight: weight, state: state)
            let drawn = counts(try randomDraws(3_000, from: database, seed: 0.2))
            let (chi, critical) = chiSquare(drawn, expected: available(3_000, weight: weight, state: state))
            #expect(chi < critical, "chi-square \(chi) >= \(critical): \(drawn.count) keys drawn")
        }
    }

    /// Right after a bulk load, before keyadmin.key_slots is first analyzed, the picks still probe
    /// one slot per draw. As a join, the planner read every slot of the tier at every call (a
    /// tier's slots hashed: 55-60 ms a pick at 100,000 keys). Counted by the index reads of this
    /// transaction, not by time.
    @Test func picksProbeOneSlotPerDrawBeforeTheSlotsAreAnalyzed() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(
                database, count: 20_000, weight: { $0 == 7 ? 1000 : 1 },
                state: { $0 % 10 == 3 ? "cooling" : "available" })
            let read: Int = try database.connect().withTransaction { transaction in
                try transaction.query(
                    "SELECT count(get_random_api_key('openai')) AS picks FROM generate_series(1, 50)", step: "picking")
                return try transaction.query(
                    "SELECT pg_stat_get_xact_tuples_returned('keyadmin.key_slots_pkey'::regclass)::integer AS value",
                    step: "counting the slots read"
                ).singleRow().decode("value")
            }
            #expect(read > 0, "the picks did not go through the slots")
            #expect(read <= 50 * 148, "\(read) slots read for 50 picks")
        }
    }

    /// Keys over tiers 1-9 with a tenth of each cooling: only tier 1's available keys, evenly.
    @Test func keysOverNineTiersDrawOnlyTheLowestAvailable() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.query("INSERT INTO providers (provider_name) VALUES ('openai')", step: "provider")
            try connection.query(
                """
                INSERT INTO provider_api_keys (provider_id, key_number, api_key, tier, cooldown_until)
                SELECT p.id, n, 'sk-policy-key-' || n, 1 + n % 9,
                       CASE WHEN (n / 9) % 10 = 0 THEN now() + interval '1 hour' ELSE '-infinity' END
                FROM providers AS p, generate_series(1, 270) AS n
                """, step: "keys")
            let tierOne = try Set(
                database.values(
                    "SELECT api_key AS value FROM provider_api_keys WHERE tier = 1 AND cooldown_until <= now()"))
            let drawn = try randomDraws(4_000, from: database, seed: 0.3)
            #expect(Set(drawn).isSubset(of: tierOne))
            let (chi, critical) = chiSquare(
                counts(drawn), expected: Dictionary(uniqueKeysWithValues: tierOne.map { ($0 ?? "", 1) }))
            #expect(chi < critical, "chi-square \(chi)")
        }
    }

    /// Tier 1 all cooling, with weights over other classes than tier 2's: tier 2 serves, exactly
    /// by weight, through its own classes and slots (not tier 1's).
    @Test func aHigherTierServesByWeightThroughItsOwnSlots() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weight: (Int) -> Int = { n in n <= 200 ? [1000, 300, 40, 7][n % 4] : [1, 2, 5, 20, 100][n % 5] }
            let tierOf: (Int) -> Int = { n in n <= 200 ? 1 : 2 }
            let state: (Int) -> String = { n in n <= 200 ? "cooling" : "available" }
            try pool(database, count: 240, weight: weight, tier: tierOf, state: state)
            let drawn = counts(try randomDraws(8_000, from: database, seed: 0.6))
            let (chi, critical) = chiSquare(drawn, expected: available(240, weight: weight, state: state))
            #expect(chi < critical, "chi-square \(chi) >= \(critical): \(drawn)")
        }
    }

    /// A storm next door: another provider's keys all cooling change nothing about this one's picks.
    @Test func anotherProvidersStormLeavesThePicksAlone() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, count: 50, weight: { $0 % 5 + 1 })
            try pool(database, count: 2_000, state: { _ in "cooling" }, provider: "storm")
            let drawn = counts(try randomDraws(6_000, from: database, seed: 0.9))
            let (chi, critical) = chiSquare(
                drawn, expected: available(50, weight: { $0 % 5 + 1 }, state: { _ in "available" }))
            #expect(chi < critical, "chi-square \(chi)")
        }
    }

    // MARK: - Sticky picks and membership

    func stickyPicks(_ database: TestDatabase, _ count: Int) throws -> [String?] {
        try database.values(
            "SELECT get_sticky_api_key('openai', 'conversation-' || i) AS value FROM generate_series(1, \(count)) AS i ORDER BY i"
        )
    }

    /// Tier 1 all cooling, a third of tier 2 cooling too: every affinity gets an available key of
    /// tier 2, those whose first probe meets a cooling key included (never the degrade rule's).
    @Test func stickyPicksPassACoolingTierAndServeFromTheNext() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let tierOf: (Int) -> Int = { n in n <= 100 ? 1 : 2 }
            let state: (Int) -> String = { n in n <= 100 || n % 3 == 0 ? "cooling" : "available" }
            try pool(database, count: 160, weight: { n in n % 2 + 1 }, tier: tierOf, state: state)
            let serving = Set(available(160, weight: { _ in 1 }, state: state).keys)
            let picks = try stickyPicks(database, 2_000)
            let strays = Set(picks.map { $0 ?? "none" }).subtracting(serving)
            #expect(strays.isEmpty, "picked outside tier 2's available keys: \(strays.sorted())")
        }
    }

    /// Weights over several classes: an added key of weight w takes about w/W of the affinities
    /// and moves no others between old keys beyond about 2w/W; a weight changed within its class
    /// moves only that key's affinities; over many affinities, use follows weight within 10%.
    @Test func stickyPicksMoveOnlyWhatTheyMustAcrossClasses() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let weight: (Int) -> Int = { n in [1, 3, 6, 12][n % 4] }
            try pool(database, count: 40, weight: weight)
            let total = (1...40).map(weight).reduce(0, +)
            let before = try stickyPicks(database, 6_000)
            let use = counts(before)
            for n in 1...40 {
                let share = Double(use["sk-policy-key-\(n)", default: 0]) / 6_000
                let expected = Double(weight(n)) / Double(total)
                #expect(abs(share - expected) <= 0.10 * expected + 0.004, "key \(n): \(share) vs \(expected)")
            }
            try database.connect().query(
                "INSERT INTO provider_api_keys (provider_id, key_number, api_key, weight) SELECT id, 41, 'sk-policy-key-41', 6 FROM providers",
                step: "add")
            let grown = try stickyPicks(database, 6_000)
            let moved = zip(before, grown).filter { $0 != $1 }
            let toNew = moved.filter { $0.1 == "sk-policy-key-41" }.count
            #expect(Double(moved.count) <= 2.5 * 6 / Double(total + 6) * 6_000, "\(moved.count) of 6000 moved")
            #expect(
                toNew > 0 && moved.count - toNew <= moved.count / 2, "\(moved.count - toNew) moved between old keys")
            // A weight changed within its class (key 3: 12 -> 15, class 8-15): affinities move only
            // to key 3, which now accepts every probe that lands on it.
            try database.connect().query(
                "UPDATE provider_api_keys SET weight = 15 WHERE key_number = 3", step: "reweigh")
            let reweighed = try stickyPicks(database, 6_000)
            let changed = zip(grown, reweighed).filter { $0 != $1 }
            #expect(!changed.isEmpty && changed.allSatisfy { $0.1 == "sk-policy-key-3" }, "\(changed.prefix(5))")
        }
    }

    // MARK: - Slots under every writer

    @Test func slotsStayDenseForEveryWriter() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, count: 200, weight: { [1, 2, 5, 40, 700][$0 % 5] }, tier: { $0 % 3 + 1 })
            try pool(database, count: 50, provider: "other")
            #expect(try database.values(Self.slotProblems) == [])
            let connection = try database.connect()
            let writes: [String] = [
                "DELETE FROM provider_api_keys WHERE key_number % 7 = 0",
                "UPDATE provider_api_keys SET weight = 1 + (key_number * 37) % 1000 WHERE key_number % 3 = 0",
                "UPDATE provider_api_keys SET tier = 1 + key_number % 9 WHERE key_number % 4 = 0",
                "UPDATE provider_api_keys SET weight = weight + 1 WHERE key_number % 5 = 1",
                // Each tier's heaviest keys one lighter: mostly within their class, so no slot moves.
                """
                UPDATE provider_api_keys SET weight = weight - 1
                WHERE weight > 1 AND (provider_id, tier, weight) IN (SELECT provider_id, tier, max(weight) FROM provider_api_keys GROUP BY 1, 2)
                """,
                "UPDATE provider_api_keys SET key_number = key_number + 1000 WHERE key_number > 190",
                """
                UPDATE provider_api_keys SET provider_id = (SELECT id FROM providers WHERE provider_name = 'other'),
                       key_number = key_number + 5000
                WHERE api_key LIKE 'sk-policy-key-1_'
                """,
                "INSERT INTO provider_api_keys (provider_id, key_number, api_key, weight, tier) SELECT id, 9000 + n, 'sk-late-' || n, n, 2 FROM providers, generate_series(1, 30) AS n",
                "DELETE FROM providers WHERE provider_name = 'other'",
                "UPDATE provider_api_keys SET weight = 1, tier = 1",
                "TRUNCATE provider_api_keys",
            ]
            for write in writes {
                try connection.execute(SQLScript(trustedSQL: write), step: "a psql writer")
                #expect(try database.values(Self.slotProblems) == [], "after: \(write)")
            }
            // Slots rebuilt from the keys as they are (after a restore that skipped triggers).
            try pool(database, count: 30, weight: { $0 * 30 }, provider: "restored")
            try connection.execute(
                SQLScript(
                    trustedSQL:
                        "SET session_replication_role = replica; DELETE FROM keyadmin.key_slots; RESET session_replication_role"
                ),
                step: "bypassing the triggers")
            #expect(try database.values(Self.slotProblems) != [])
            try connection.execute(SQLScript(trustedSQL: "SELECT keyadmin.rebuild_key_slots()"), step: "rebuild")
            #expect(try database.values(Self.slotProblems) == [])
        }
    }

    /// The service role (a backend, Supabase's table editor) writes keys as a role that may not
    /// execute keyadmin's functions: its adds, deletes, weight and tier changes keep the slots.
    @Test func theServiceRoleWritesKeysAndTheSlotsFollow() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            try pool(database, count: 20, weight: { $0 })
            let connection = try database.connect()
            try connection.withTransaction { transaction in
                try transaction.execute(
                    SQLScript(
                        trustedSQL: """
                            SET LOCAL ROLE service_role;
                            UPDATE provider_api_keys SET weight = 700 WHERE key_number = 5;
                            UPDATE provider_api_keys SET tier = 2 WHERE key_number = 6;
                            UPDATE provider_api_keys SET weight = weight + 1 WHERE key_number = 7;
                            INSERT INTO provider_api_keys (provider_id, key_number, api_key, weight)
                            SELECT id, 21, 'sk-service-role-key-21', 300 FROM providers;
                            DELETE FROM provider_api_keys WHERE key_number = 1
                            """), step: "writing as the service role")
            }
            #expect(try database.values(Self.slotProblems) == [])
        }
    }

    /// Several operators adding, deleting, reweighing and moving keys of one provider while
    /// backends draw: no lost or duplicate slot, no deadlock, every draw a key.
    @Test func slotsStayConsistentUnderConcurrentWritersAndReaders() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, count: 300, weight: { [1, 3, 9, 100][$0 % 4] })
            let failures = Locked<[String]>([])
            let writes: [@Sendable (Int) -> String] = [
                { i in
                    "INSERT INTO provider_api_keys (provider_id, key_number, api_key, weight) SELECT id, 1000 + \(i), 'sk-added-\(i)', \(1 + i % 500) FROM providers"
                },
                { i in "DELETE FROM provider_api_keys WHERE key_number IN (\(i * 3 % 300 + 1), \(i * 7 % 300 + 1))" },
                { i in
                    "UPDATE provider_api_keys SET weight = 1 + (key_number * \(i)) % 1000 WHERE key_number % 17 = \(i % 17)"
                },
                { i in
                    "UPDATE provider_api_keys SET tier = 1 + (key_number + \(i)) % 3 WHERE key_number % 11 = \(i % 11)"
                },
            ]
            let finished = DispatchSemaphore(value: 0)
            for worker in 0..<6 {
                Thread {
                    defer { finished.signal() }
                    do {
                        let connection = try database.connect()
                        for i in 0..<40 {
                            if worker < 4 {
                                try connection.execute(
                                    SQLScript(trustedSQL: writes[worker](worker * 100 + i)), step: "writer")
                            } else {
                                let key: String? = try connection.query(
                                    "SELECT get_random_api_key('openai') AS value", step: "draw"
                                ).singleRow().decodeIfPresent("value")
                                if key == nil { failures.withLock { $0.append("a draw found no key") } }
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("worker \(worker): \(error)") }
                    }
                }.start()
            }
            for _ in 0..<6 { finished.wait() }
            #expect(failures.withLock { $0 } == [])
            #expect(try database.values(Self.slotProblems) == [])
        }
    }
}
