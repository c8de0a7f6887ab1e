import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// Migration 034 computes the sticky pick's scores in double precision instead of numeric, 035
/// reads its probed keys into other variables, 036 reads a tier's available keys in the index's
/// order and scores them only when their count decides, 037 reads their numbers and weights and
/// then the chosen key, 038 checks a probed key's state in PL/pgSQL instead of SQL, and 039
/// passes the probes whose draw no key of the tier can pass. An upgrade through all six must move
/// no affinity, in the pools whose picks use those scores and probes: weights over many classes
/// (a class chosen per probe by rendezvous, a key accepted by weight), a tier with few keys
/// available (the rendezvous over the available keys), one with more available than the
/// rendezvous takes (400 of 2,000: the count alone sends the pick on to its probes), and weights
/// 1-10 with 106 keys available (a direct tier whose largest weight, 10, is below its bound, 15,
/// where whether round 1 met an available key decides between round 2 and round 3).
@Suite struct StickyPrecisionTests {
    @Test func upgradingFrom033MovesNoAffinity() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let before034 = Migration.bundled.filter { (Int($0.version) ?? 0) < 34 }
            _ = try Migrator(connection: database.connect(), migrations: before034).run(dryRun: false)
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        INSERT INTO providers (provider_name) VALUES ('zipf'), ('sparse'), ('fifth'), ('tenths');
                        INSERT INTO provider_api_keys (provider_id, key_number, api_key, weight, cooldown_until)
                        SELECT p.id, n, 'sk-sticky-' || p.provider_name || '-' || n,
                               CASE WHEN p.provider_name = 'zipf'
                                    THEN least(1000, greatest(1, floor(1000.0 / (1 + (hashint4(n) & 1023)))::integer))
                                    WHEN p.provider_name = 'tenths' THEN 1 + n % 10
                                    ELSE 1 + n % 3 END,
                               CASE WHEN p.provider_name = 'zipf' AND n % 10 = 0 THEN now() + interval '1 day'
                                    WHEN p.provider_name = 'sparse' AND n % 100 <> 7 THEN now() + interval '1 day'
                                    WHEN p.provider_name = 'fifth' AND n % 5 <> 2 THEN now() + interval '1 day'
                                    WHEN p.provider_name = 'tenths' AND n % 19 <> 3 THEN now() + interval '1 day'
                                    ELSE '-infinity' END
                        FROM providers AS p, generate_series(1, 2000) AS n;
                        ANALYZE provider_api_keys;
                        """), step: "a Zipf-like pool, one with 20 keys available, one with 400, weights 1-10 with 106")
            let picks: Query = """
                SELECT string_agg(coalesce(get_sticky_api_key(p.name, a::text), '-'), ',' ORDER BY p.name, a) AS value
                FROM unnest(ARRAY['zipf', 'sparse', 'fifth', 'tenths']) AS p(name), generate_series(1, 1500) AS a
                """
            let before = try database.values(picks)
            _ = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(
                try database.integer(
                    "SELECT count(*) AS value FROM keyadmin.schema_migrations WHERE version IN ('034', '035', '036', '037', '038', '039')"
                )
                    == 6)
            #expect(try database.values(picks) == before)
            // Not vacuous: every pool gives every affinity a key.
            #expect(
                try database.integer(
                    """
                    SELECT count(*) AS value FROM unnest(ARRAY['zipf', 'sparse', 'fifth', 'tenths']) AS p(name), generate_series(1, 100) AS a
                    WHERE get_sticky_api_key(p.name, a::text) IS NULL
                    """) == 0)
        }
    }
}
