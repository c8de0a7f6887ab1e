import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

@Suite struct ConstraintTests {
    /// A connection to `database` with provider openai and its key #1, written with plain SQL.
    static func seeded(_ database: TestDatabase) throws -> Connection {
        let connection = try database.connect()
        try connection.execute(
            SQLScript(
                trustedSQL: """
                    INSERT INTO providers (provider_name) VALUES ('openai');
                    INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 1, 'sk-existing-key-0001' FROM providers;
                    """), step: "seed")
        return connection
    }

    /// Rows written by psql or the SQL editor, not by keyadmin, still have to be sane.
    @Test(arguments: [
        "INSERT INTO providers (provider_name) VALUES ('OpenAI')",
        "INSERT INTO providers (provider_name) VALUES ('')",
        "INSERT INTO providers (provider_name) VALUES ('open ai')",
        "INSERT INTO providers (provider_name) VALUES (repeat('a', 65))",
        "INSERT INTO providers (provider_name) VALUES ('openai')",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 0, 'sk-zero' FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, -1, 'sk-neg' FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 1, 'sk-other' FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 9, 'sk-existing-key-0001' FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 9, '' FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 9, 'sk with space' FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 9, E'sk-\\nnewline' FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 9, repeat('k', 2049) FROM providers",
        "INSERT INTO provider_api_keys (provider_id, key_number, api_key) VALUES (424242, 1, 'sk-orphan')",
    ])
    func refusesBadRowsFromAnyWriter(_ statement: String) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let connection = try Self.seeded(database)
            #expect(throws: PGError.self) {
                try connection.execute(SQLScript(trustedSQL: statement), step: "bad row")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 1)
            #expect(try database.integer("SELECT count(*) AS value FROM providers") == 1)
        }
    }

    /// Tiers, weights and endpoints written with plain SQL (psql, the SQL editor) are held to
    /// what the command line accepts: a check violation (23514), nothing changed.
    @Test(arguments: [
        "UPDATE provider_api_keys SET weight = 0", "UPDATE provider_api_keys SET weight = 1001",
        "UPDATE provider_api_keys SET tier = 0", "UPDATE provider_api_keys SET tier = 10",
        "UPDATE providers SET endpoint_url = 'https://u:p@x.example/v1'",
        "UPDATE providers SET endpoint_url = 'https://user@x.example/v1'",
    ])
    func outOfRangeSettingsAreCheckViolations(_ statement: String) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let connection = try Self.seeded(database)
            var state: String?
            do {
                try connection.execute(SQLScript(trustedSQL: statement), step: "bad setting")
            } catch let error as PGError {
                state = error.sqlState?.rawValue
            }
            #expect(state == "23514", "\(statement)")
            #expect(
                try database.values(
                    """
                    SELECT k.tier || '/' || k.weight || '/' || coalesce(p.endpoint_url, '-') AS value
                    FROM provider_api_keys AS k JOIN providers AS p ON p.id = k.provider_id
                    """) == ["1/1/-"])
        }
    }

    @Test func duplicateKeyErrorQuotesOnlyTheHash() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.execute(
                SQLScript(
                    trustedSQL: """
                        INSERT INTO providers (provider_name) VALUES ('openai');
                        INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 1, 'sk-do-not-leak-me' FROM providers;
                        """), step: "seed")
            let psqlDetail = try runPsqlCommand(
                "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT id, 2, 'sk-do-not-leak-me' FROM providers",
                on: database)
            #expect(psqlDetail.contains("provider_api_keys_key_hash_provider_id_key"))
            #expect(!psqlDetail.contains("sk-do-not-leak-me"))
        }
    }
}

@Suite struct FunctionTests {
    func seed(_ database: TestDatabase, provider: String = "openai", numbers: [Int]) throws {
        let connection = try database.connect()
        try connection.query("INSERT INTO providers (provider_name) VALUES (\(provider))", step: "provider")
        try connection.query(
            """
            INSERT INTO provider_api_keys (provider_id, key_number, api_key)
            SELECT p.id, n, 'sk-key-' || n FROM providers AS p, unnest(\(numbers)::int[]) AS n WHERE p.provider_name = \(provider)
            """, step: "keys")
    }

    func draws(_ count: Int, from database: TestDatabase) throws -> [String?] {
        try randomDraws(count, from: database, seed: 0.4242)
    }

    @Test func getAPIKeyFindsByCaseInsensitiveNameAndNumber() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [1, 2, 3])
            #expect(try database.values("SELECT get_api_key('OpenAI', 2) AS value") == ["sk-key-2"])
            #expect(
                try database.values("SELECT get_api_key(p_provider_name => 'openai', p_key_number => 3) AS value") == [
                    "sk-key-3"
                ])
        }
    }

    @Test func bothFunctionsReturnNullForMissingProvidersAndKeys() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [1])
            try database.connect().query(
                "INSERT INTO providers (provider_name) VALUES ('empty')", step: "empty provider")
            #expect(try database.values("SELECT get_api_key('openai', 2) AS value") == [nil])
            #expect(try database.values("SELECT get_api_key('nobody', 1) AS value") == [nil])
            #expect(try database.values("SELECT get_random_api_key('nobody') AS value") == [nil])
            #expect(try database.values("SELECT get_random_api_key('empty') AS value") == [nil])
        }
    }

    @Test func signaturesAreThePublicInterface() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let signatures = try database.values(
                """
                SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') ' || pg_get_function_result(p.oid)
                       || CASE WHEN p.prosecdef THEN ' definer' ELSE ' invoker' END
                       || ' ' || array_to_string(p.proconfig, ',') AS value
                FROM pg_proc AS p WHERE p.pronamespace = 'public'::regnamespace ORDER BY p.proname
                """)
            #expect(
                signatures == [
                    "get_api_key(p_provider_name text, p_key_number integer) text invoker search_path=\"\"",
                    "get_random_api_key(p_provider_name text) text invoker search_path=\"\",plan_cache_mode=force_generic_plan,enable_memoize=off",
                    "get_sticky_api_key(p_provider_name text, p_affinity text) text invoker search_path=\"\",plan_cache_mode=force_generic_plan",
                    "report_api_key_result(p_provider_name text, p_api_key text, p_http_status integer, p_retry_after_seconds integer DEFAULT NULL::integer, p_tokens integer DEFAULT NULL::integer, p_window text DEFAULT NULL::text) text invoker search_path=\"\"",
                ])
        }
    }

    @Test func randomPickWithASingleKeyAlwaysReturnsIt() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [7])
            let picks = try draws(50, from: database)
            #expect(Set(picks) == ["sk-key-7"])
        }
    }

    /// Chi-square goodness of fit over a pool with gaps: numbers 1, 2, 5, 9, 10 (3, 4, 6-8 deleted).
    /// 5,000 draws, 4 degrees of freedom; 18.47 is the 0.1% critical value. A function that
    /// favoured low numbers (as an early version did) scored 102.
    @Test func randomPickIsUniformOverKeysWithGaps() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let numbers = [1, 2, 5, 9, 10]
            try seed(database, numbers: numbers)
            let drawCount = 5_000
            let picks = try draws(drawCount, from: database)
            var counts: [String: Int] = [:]
            for pick in picks { counts[pick ?? "NULL", default: 0] += 1 }
            #expect(Set(counts.keys) == Set(numbers.map { "sk-key-\($0)" }))
            let expected = Double(drawCount) / Double(numbers.count)
            let chiSquare = counts.values.reduce(0.0) { $0 + pow(Double($1) - expected, 2) / expected }
            #expect(chiSquare < 18.47, "counts \(counts)")
        }
    }

    /// Numbers 1 and 2,000,000,000: rejection sampling misses every time, so this exercises the
    /// fallback by rank, which must be uniform too (1 degree of freedom, 0.1% critical value 10.83).
    @Test func randomPickIsUniformWhenNumbersAreVerySparse() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, numbers: [1, 2_000_000_000])
            let picks = try draws(2000, from: database)
            let first = picks.filter { $0 == "sk-key-1" }.count
            let second = picks.filter { $0 == "sk-key-2000000000" }.count
            #expect(first + second == 2000)
            let chiSquare = (pow(Double(first) - 1000, 2) + pow(Double(second) - 1000, 2)) / 1000
            #expect(chiSquare < 10.83, "\(first) vs \(second)")
        }
    }
}

@Suite struct PrivilegeTests {
    func attempt(_ statement: String, as role: String, in database: TestDatabase) throws -> SQLState? {
        try database.attempt(statement, as: role)
    }

    static let waysIn = [
        "SELECT * FROM public.providers",
        "SELECT * FROM public.provider_api_keys",
        "INSERT INTO public.providers (provider_name) VALUES ('evil')",
        "INSERT INTO public.provider_api_keys (provider_id, key_number, api_key) VALUES (1, 99, 'sk-evil')",
        "UPDATE public.provider_api_keys SET api_key = 'sk-evil'",
        "DELETE FROM public.provider_api_keys",
        "TRUNCATE public.provider_api_keys",
        "SELECT nextval(pg_get_serial_sequence('public.provider_api_keys', 'id'))",
        "SELECT public.get_api_key('openai', 1)",
        "SELECT public.get_random_api_key('openai')",
        "SELECT public.report_api_key_result('openai', 'sk-service-only-000001', 429, 60)",
        "SELECT * FROM keyadmin.schema_migrations",
        "SELECT * FROM keyadmin.key_events",
    ]

    @Test(arguments: ["anon", "authenticated"])
    func apiRolesCannotReachTheKeysByAnyWay(role: String) throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(ProviderName(validating: "openai"))
            _ = try store.addKey(APIKey(validating: "sk-service-only-000001"), to: ProviderName(validating: "openai"))
            for statement in Self.waysIn {
                #expect(
                    try attempt(statement, as: role, in: database) == .insufficientPrivilege, "\(role): \(statement)")
            }
        }
    }

    @Test func serviceRoleCanReadWriteAndCallBoth() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(ProviderName(validating: "openai"))
            _ = try store.addKey(APIKey(validating: "sk-service-only-000001"), to: ProviderName(validating: "openai"))
            // Every way in but TRUNCATE (not granted) and KeyAdmin's own bookkeeping; the random
            // pick must also return the key, not NULL.
            let serviceWays = Self.waysIn.filter {
                !$0.hasPrefix("TRUNCATE") && !$0.contains("keyadmin.") && !$0.contains("get_random")
            }
            for statement in serviceWays + [
                "DO $$ BEGIN IF public.get_random_api_key('openai') IS DISTINCT FROM 'sk-service-only-000001' THEN RAISE 'no key'; END IF; END $$"
            ] {
                #expect(try attempt(statement, as: "service_role", in: database) == nil, "\(statement)")
            }
            // The audit trail: readable (a backend's dashboard), never writable.
            #expect(try attempt("SELECT * FROM keyadmin.key_events", as: "service_role", in: database) == nil)
            for statement in [
                "INSERT INTO keyadmin.key_events (action) VALUES ('forged')",
                "UPDATE keyadmin.key_events SET actor = 'x'",
                "DELETE FROM keyadmin.key_events", "TRUNCATE keyadmin.key_events",
            ] {
                #expect(
                    try attempt(statement, as: "service_role", in: database) == .insufficientPrivilege, "\(statement)")
            }
        }
    }

    /// Supabase grants EXECUTE on new functions to anon and authenticated by default, and
    /// PostgreSQL to PUBLIC: the migrations take both back from every function they create.
    /// Checked on the grants themselves, not by calling: the functions run with the caller's
    /// rights, so a call would fail on the tables even with EXECUTE granted.
    @Test func everyFunctionIsExecutableByTheServiceRoleAlone() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            let rows = try database.values(
                """
                SELECT p.oid::regprocedure::text || ' anon=' || has_function_privilege('anon', p.oid, 'EXECUTE')
                       || ' authenticated=' || has_function_privilege('authenticated', p.oid, 'EXECUTE')
                       || ' service_role=' || has_function_privilege('service_role', p.oid, 'EXECUTE')
                       || ' public=' || EXISTS (
                           SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
                           WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS value
                FROM pg_proc AS p
                WHERE p.pronamespace = 'public'::regnamespace
                ORDER BY 1
                """)
            #expect(
                rows == [
                    "get_api_key(text,integer) anon=false authenticated=false service_role=true public=false",
                    "get_random_api_key(text) anon=false authenticated=false service_role=true public=false",
                    "get_sticky_api_key(text,text) anon=false authenticated=false service_role=true public=false",
                    "report_api_key_result(text,text,integer,integer,integer,text) anon=false authenticated=false service_role=true public=false",
                ])
            // The service role calls nothing of KeyAdmin's own but what the report calls to count
            // and to rest an account (migration 033), and reads no usage.
            #expect(
                try database.values(
                    """
                    SELECT p.oid::regprocedure::text AS value FROM pg_proc AS p
                    WHERE p.pronamespace = 'keyadmin'::regnamespace
                      AND has_function_privilege('service_role', p.oid, 'EXECUTE')
                    ORDER BY 1
                    """) == [
                        "keyadmin.count_report(integer,integer,date,text,integer,text,boolean)",
                        "keyadmin.next_reset(text,timestamp with time zone)",
                        "keyadmin.rest_account(integer,integer,text,timestamp with time zone,boolean,jsonb)",
                    ])
            #expect(
                try database.values(
                    """
                    SELECT t AS value FROM unnest(ARRAY['keyadmin.key_usage', 'keyadmin.account_usage',
                                                        'keyadmin.usage_pruned', 'keyadmin.usage_days']) AS t
                    WHERE has_table_privilege('service_role', t, 'SELECT, INSERT, UPDATE, DELETE')
                       OR has_table_privilege('anon', t, 'SELECT, INSERT, UPDATE, DELETE')
                       OR has_table_privilege('authenticated', t, 'SELECT, INSERT, UPDATE, DELETE')
                    """) == [])
            // KeyAdmin's own functions (trigger bodies, helpers) are nobody's to call directly.
            #expect(
                try database.values(
                    """
                    SELECT p.oid::regprocedure::text AS value FROM pg_proc AS p
                    WHERE p.pronamespace = 'keyadmin'::regnamespace
                      AND (has_function_privilege('anon', p.oid, 'EXECUTE')
                           OR has_function_privilege('authenticated', p.oid, 'EXECUTE')
                           OR EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
                                      WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
                    """) == [])
        }
    }

    @Test func rowLevelSecurityIsOnAndNoFunctionIsSecurityDefiner() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            #expect(
                try database.values(
                    """
                    SELECT relname || ':' || relrowsecurity AS value FROM pg_class
                    WHERE oid IN ('public.providers'::regclass, 'public.provider_api_keys'::regclass) ORDER BY relname
                    """) == ["provider_api_keys:true", "providers:true"])
            #expect(
                try database.integer(
                    "SELECT count(*) AS value FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prosecdef")
                    == 0)
            #expect(
                try database.values(
                    "SELECT DISTINCT array_to_string(roles, ',') AS value FROM pg_policies WHERE schemaname = 'public'")
                    == ["service_role"])
        }
    }
}
