import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// Migration 036: no statement of the picks reads the whole key table, whatever the statistics
/// say; 037: the read of a tier's few available keys takes no row of the table but the chosen
/// key's, where the visibility map allows; 038: no probe is memoized. Each phase picks on a new
/// connection, so PL/pgSQL plans its statements afresh (a generic plan, kept for the session)
/// with the statistics of that moment, and counts in its own transaction what the picks read of
/// the table: scans of it, and rows fetched. Counts, not times: a slow machine reads the same
/// rows.
@Suite struct PickPlanTests {
    /// Keys 1...count of provider "openai" (WeightClassTests' pool: key n is sk-policy-key-n), in
    /// tier 1 + n % tiers, all available and analyzed; autovacuum off for the table, so that the
    /// statistics stay those of this moment.
    func pool(_ database: TestDatabase, count: Int = 10_000, tiers: Int = 3) throws {
        try WeightClassTests().pool(database, count: count, tier: { 1 + $0 % tiers })
        try database.connect().query(
            "ALTER TABLE provider_api_keys SET (autovacuum_enabled = off)", step: "statistics kept")
    }

    /// What `picks` (one statement) returned, and what reading it took of the key table.
    struct Reading {
        var picked: [String?]
        var scans: Int
        var rowsFetched: Int
        /// The picked keys' numbers (key n is sk-policy-key-n); nil where a pick gave no key.
        var pickedNumbers: [Int?] { picked.map { key in (key?.split(separator: "-").last).flatMap { Int($0) } } }
        /// Entries read of the partial index on (provider, tier, cooldown_until) with numbers and weights.
        var indexEntries: Int
    }

    func pick(_ picks: Query, in database: TestDatabase) throws -> Reading {
        try database.connect().withTransaction { transaction in
            let picked = try transaction.query(picks, step: "picking").rows.map {
                try $0.decodeIfPresent("value", as: String.self)
            }
            let read = try transaction.query(
                """
                SELECT seq_scan::integer AS scans, (seq_tup_read + coalesce(idx_tup_fetch, 0))::integer AS fetched,
                       pg_stat_get_xact_tuples_returned('public.provider_api_keys_enabled_by_tier_with_weight'::regclass)::integer
                           AS entries
                FROM pg_stat_xact_user_tables WHERE relid = 'public.provider_api_keys'::regclass
                """, step: "counting what the picks read"
            ).singleRow()
            return Reading(
                picked: picked, scans: try read.decode("scans"), rowsFetched: try read.decode("fetched"),
                indexEntries: try read.decode("entries"))
        }
    }

    /// Twenty weighted and twenty sticky picks.
    let bothPicks: Query = """
        SELECT get_random_api_key('openai') AS value FROM generate_series(1, 20)
        UNION ALL
        SELECT get_sticky_api_key('openai', 'conversation-' || i) FROM generate_series(1, 20) AS i
        """

    /// One 429 on a key of an account cools every key of it until the same moment: the degrade
    /// rule gives the lowest tier's lowest number among them, from the first entries of an index
    /// in that order (035 sorted every cooling key: 38-40 ms a pick with 100,000 keys).
    @Test func everyKeyCoolingUntilOneMomentDegradesWithoutASort() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database)
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour'", step: "one account's 429")
            try database.connect().query("ANALYZE provider_api_keys", step: "statistics of the storm")
            let reading = try pick(bothPicks, in: database)
            #expect(reading.picked == Array(repeating: "sk-policy-key-3", count: 40))
            #expect(reading.scans == 0, "the key table was scanned \(reading.scans) times")
            #expect(reading.rowsFetched <= 40 * 100, "\(reading.rowsFetched) rows read for 40 picks")
        }
    }

    /// Statistics from before a storm (autovacuum analyzes minutes later): the looks at a tier
    /// with no key out of cooldown, and the reads of the few available keys, go through the
    /// partial index; planned as NOT EXISTS they scanned the table for a first row. One tier,
    /// so that the weighted pick's tier 1 is direct (its look is there only).
    @Test func statisticsFromBeforeAStormTurnNoLookIntoAScan() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, tiers: 1)
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour' WHERE key_number % 500 <> 9",
                step: "a storm, not analyzed")
            let available = try Set(
                database.values(
                    "SELECT api_key AS value FROM provider_api_keys WHERE cooldown_until <= now()"))
            #expect(!available.isEmpty)
            let reading = try pick(bothPicks, in: database)
            #expect(Set(reading.picked).isSubset(of: available))
            #expect(reading.scans == 0, "the key table was scanned \(reading.scans) times")

            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = now() + interval '2 hours' WHERE key_number % 500 = 9",
                step: "the last keys cooling")
            let storm = try pick(bothPicks, in: database)
            #expect(storm.picked == Array(repeating: "sk-policy-key-1", count: 40))
            #expect(storm.scans == 0, "the key table was scanned \(storm.scans) times in the storm")
        }
    }

    /// Statistics from a storm, after the keys came back: cooldowns end without a write, so
    /// nothing analyzes the table again. Statistics that call the availability range empty made
    /// the probes' plans read it (every available key) and then join the probes to it: 930 rows
    /// a pick with 10,000 keys (036), 12 ms and more with 100,000. Each probe reads its key by
    /// number or id alone now (037). One tier (direct probes by number) and three (the slots).
    @Test(arguments: [1, 3]) func statisticsFromAStormDoNotOutliveIt(_ tiers: Int) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, tiers: tiers)
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = now() + interval '1 hour'", step: "a storm")
            try database.connect().query("ANALYZE provider_api_keys", step: "statistics of the storm")
            try database.connect().query(
                "UPDATE provider_api_keys SET cooldown_until = '-infinity'", step: "the keys back, not analyzed")
            let reading = try pick(bothPicks, in: database)
            #expect(reading.picked.allSatisfy { $0 != nil })
            #expect(reading.scans == 0, "the key table was scanned \(reading.scans) times")
            // A pick whose first probe meets an available key reads one row (or a few, where a
            // slot's key is rejected by weight or a draw lands on another tier's number).
            #expect(reading.rowsFetched <= 40 * 12, "\(reading.rowsFetched) rows read for 40 picks")
            #expect(reading.indexEntries <= 40 * 12, "\(reading.indexEntries) index entries read for 40 picks")
        }
    }

    /// The weighted pick's probes through the slots draw from generate_series with a bound its
    /// generic plan cannot see, which the planner takes for 1,000 rows of repeated draws: it
    /// memoized each probe's class and slot, a hash table built at every call for draws that
    /// never repeat (8-15% of a pick). 038 turns Memoize off for the function. Three tiers, so
    /// that no tier is direct and every pick probes through the slots; auto_explain shows the
    /// plans of the function's statements.
    @Test func slotProbesAreNotMemoized() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database)
            let connection = try database.connect()
            try connection.execute(
                SQLScript(
                    trustedSQL: """
                        LOAD 'auto_explain';
                        SET auto_explain.log_min_duration = 0;
                        SET auto_explain.log_nested_statements = on;
                        SET client_min_messages = log;
                        """), step: "plans shown")
            let picked = try connection.query(
                "SELECT get_random_api_key('openai') AS value FROM generate_series(1, 5)", step: "picking")
            #expect(picked.rows.count == 5)
            let plans = connection.takeNotices()
            #expect(plans.contains { $0.contains("key_slots") }, "no plan of a probe through the slots")
            #expect(!plans.contains { $0.contains("Memoize") }, "\(plans.filter { $0.contains("Memoize") })")
        }
    }

    /// A hundredth of 10,000 keys available, vacuumed since they last changed: the picks' probes
    /// miss, and each reads the tier's 100 available keys' numbers and weights from the index
    /// alone (037), then the chosen key. Reading each available key's row of the table (036)
    /// fetched 100 rows more a pick.
    @Test func aFewAvailableKeysAreReadFromTheIndexAlone() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, tiers: 1)
            try database.connect().query(
                """
                UPDATE provider_api_keys
                SET cooldown_until = CASE WHEN key_number % 100 = 4 THEN '-infinity' ELSE now() + interval '1 hour' END
                """, step: "a hundredth available")
            // VACUUM sets the visibility map once no transaction of this database can still see
            // the old rows; another try is enough when one could.
            for _ in 1...3 {
                try database.connect().query("VACUUM ANALYZE provider_api_keys", step: "the visibility map set")
                let unset = try database.integer(
                    "SELECT relpages - relallvisible AS value FROM pg_class WHERE oid = 'public.provider_api_keys'::regclass"
                )
                if unset == 0 { break }
            }
            let reading = try pick(bothPicks, in: database)
            #expect(reading.pickedNumbers.allSatisfy { $0.map { $0 % 100 == 4 } ?? false })
            #expect(reading.scans == 0, "the key table was scanned \(reading.scans) times")
            #expect(reading.indexEntries > 0, "the picks did not read the partial index")
            // A weighted pick fetches the rows of its eight probes and the chosen key; a sticky
            // one of its four and the chosen key.
            #expect(reading.rowsFetched <= 40 * 12, "\(reading.rowsFetched) rows read for 40 picks")
        }
    }

    /// A tenth of 40,000 keys available, and statistics saying so: the read of at most
    /// v_limit + 1 available keys, after probes that met none, goes through the partial index.
    /// Planned without its order, it was a scan of the table from about 30,000 keys on (3 against
    /// 0.6 ms with 100,000).
    @Test func aTenthAvailableIsReadThroughTheIndex() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try pool(database, count: 40_000, tiers: 1)
            try database.connect().query(
                """
                UPDATE provider_api_keys
                SET cooldown_until = CASE WHEN key_number % 10 = 4 THEN '-infinity' ELSE now() + interval '1 hour' END
                """, step: "a tenth available")
            try database.connect().query("VACUUM ANALYZE provider_api_keys", step: "statistics of it")
            let reading = try pick(
                """
                SELECT get_random_api_key('openai') AS value FROM generate_series(1, 60)
                UNION ALL
                SELECT get_sticky_api_key('openai', 'conversation-' || i) FROM generate_series(1, 60) AS i
                """, in: database)
            #expect(reading.pickedNumbers.allSatisfy { $0.map { $0 % 10 == 4 } ?? false })
            #expect(reading.scans == 0, "the key table was scanned \(reading.scans) times")
            // At most one read of v_limit + 1 = 566 entries a pick (and a look of one): a bitmap
            // over the index's whole range reads the 4,000 available keys' entries each time.
            #expect(reading.indexEntries > 0, "the picks did not read the partial index")
            #expect(reading.indexEntries <= 120 * 600, "\(reading.indexEntries) index entries read for 120 picks")
        }
    }
}
