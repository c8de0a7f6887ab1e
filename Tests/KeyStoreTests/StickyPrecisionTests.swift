import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// Migration 034 computes the sticky pick's scores in double precision instead of numeric, 035
/// reads its probed keys into other variables, 036 reads a tier's available keys in the index's
/// order and scores them only when their count decides, 037 reads their numbers and weights and
/// then the chosen key, and 038 checks a probed key's state in PL/pgSQL instead of SQL. An
/// upgrade through all five must move no affinity, in the pools whose picks use those scores and
/// probes: weights over many classes (a class chosen per probe by rendezvous, a key accepted by
/// weight), a tier with few keys available (the rendezvous over the available keys), and one
/// with more available than the rendezvous takes (400 of 2,000: the count alone sends the pick
/// on to its probes).
@Suite struct StickyPrecisionTests {
    @Test func upgradingFrom033MovesNoAffinity() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let before034 = Migration.bundled.filter { (Int($0.version) ?? 0) < 34 }
            _ = try Migrator(connection: database.connect(), migrations: before034).run(dryRun: false)
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        INSERT INTO providers (provider_name) VALUES ('zipf'), ('sparse'), ('fifth');
                        INSERT INTO provider_api_keys (provider_id, key_number, api_key, weight, cooldown_until)
                        SELECT p.id, n, 'sk-sticky-' || p.provider_name || '-' || n,
                               CASE WHEN p.provider_name = 'zipf'
                                    THEN least(1000, greatest(1, floor(1000.0 / (1 + (hashint4(n) & 1023)))::integer))
                                    ELSE 1 + n % 3 END,
                               CASE WHEN p.provider_name = 'zipf' AND n % 10 = 0 THEN now() + interval '1 day'
                                    WHEN p.provider_name = 'sparse' AND n % 100 <> 7 THEN now() + interval '1 day'
                                    WHEN p.provider_name = 'fifth' AND n % 5 <> 2 THEN now() + interval '1 day'
                                    ELSE '-infinity' END
                        FROM providers AS p, generate_series(1, 2000) AS n;
                        ANALYZE provider_api_keys;
                        """), step: "a Zipf-like pool, one with 20 keys available and one with 400")
            let picks: Query = """
                SELECT string_agg(coalesce(get_sticky_api_key(p.name, a::text), '-'), ',' ORDER BY p.name, a) AS value
                FROM unnest(ARRAY['zipf', 'sparse', 'fifth']) AS p(name), generate_series(1, 1500) AS a
                """
            let before = try database.values(picks)
            _ = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(
                try database.integer(
                    "SELECT count(*) AS value FROM keyadmin.schema_migrations WHERE version IN ('034', '035', '036', '037', '038')"
                )
                    == 5)
            #expect(try database.values(picks) == before)
            // Not vacuous: every pool gives every affinity a key.
            #expect(
                try database.integer(
                    """
                    SELECT count(*) AS value FROM unnest(ARRAY['zipf', 'sparse', 'fifth']) AS p(name), generate_series(1, 100) AS a
                    WHERE get_sticky_api_key(p.name, a::text) IS NULL
                    """) == 0)
        }
    }
}
