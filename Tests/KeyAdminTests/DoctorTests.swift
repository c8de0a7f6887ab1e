import Foundation
import Postgres
import TestSupport
import Testing

/// `--doctor` on databases broken the ways an admin breaks them by mistake (each made by a
/// superuser), and on a healthy one prepared like Supabase's.
@Suite struct DoctorTests {
    func doctor(_ database: TestDatabase, _ extra: [String] = []) throws -> KeyAdminProcess.Output {
        try KeyAdminProcess.run(["--database-url", database.connectionString, "--doctor"] + extra)
    }

    func breaking(_ sql: String, _ body: (TestDatabase) throws -> Void) throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            _ = try KeyAdminProcess.run([
                "--database-url", database.connectionString, "--add-key", "openai", "sk-doctor-key-000001",
            ])
            _ = try KeyAdminProcess.run([
                "--database-url", database.connectionString, "--add-key", "openai", "sk-doctor-key-000002",
            ])
            try database.connect().execute(SQLScript(trustedSQL: sql), step: "breaking the database")
            try body(database)
        }
    }

    /// The line of the finding about `object` with `status`, if any.
    func line(_ output: KeyAdminProcess.Output, _ status: String, _ check: String, _ object: String) -> String? {
        output.stdout.split(separator: "\n").map(String.init).first {
            $0.hasPrefix(status) && $0.contains("\(check): ") && $0.contains(object)
        }
    }

    @Test func aHealthyDatabaseLikeSupabasesPasses() throws {
        try breaking("SELECT 1") { database in
            let output = try doctor(database)
            #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
            #expect(output.stdout.hasSuffix(" ok, 0 warn, 0 FAIL\n"), "\(output.stdout)")
            #expect(!output.stdout.contains("\nFAIL") && !output.stdout.contains("\nwarn"), "\(output.stdout)")
            let json = try doctor(database, ["--json"])
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let checks = try #require(document["checks"] as? [[String: Any]])
            let names = Set(checks.compactMap { $0["check"] as? String })
            #expect(
                names == [
                    "connection", "schema", "row level security", "privileges", "readers", "indirect exposure",
                    "functions", "server logging", "pool health", "key slots",
                ])
            #expect((document["summary"] as? [String: Int])?["fail"] == 0)
        }
    }

    /// A time limit ends the doctor as it ends every command: one line and exit 4, not a FAIL
    /// line per check that it stopped.
    @Test func aLockItCannotGetIsOneBusyLineNotAFailurePerCheck() throws {
        try TestDatabase.withSolo { database in
            let holder = try LockHolder(
                "LOCK TABLE public.provider_api_keys IN ACCESS EXCLUSIVE MODE", settings: database.settings())
            let blocked = try doctor(database, ["--lock-timeout", "0.3"])
            #expect(blocked.status == 4, "\(blocked.stdout)\(blocked.stderr)")
            #expect(blocked.stdout.isEmpty, "\(blocked.stdout)")
            #expect(blocked.stderr.split(separator: "\n").count == 1, "\(blocked.stderr)")
            #expect(blocked.error.contains("another session holds"), "\(blocked.stderr)")
            try holder.release()
            #expect(try doctor(database).status == 0)
        }
    }

    /// A role's own setting in every database (`ALTER ROLE r SET`, no `IN DATABASE`) is seen
    /// too. On a server of its own: a role-wide setting would reach every other test's database.
    @Test(.enabled(if: PrivateServer.isAvailable, "no PostgreSQL server binaries"))
    func aRoleWideLogSettingIsAWarning() throws {
        let server = try PrivateServer()
        let url = server.connectionString
        #expect(try keyadmin(url, ["--migrate"]).status == 0)
        let connection = try Connection(settings: ConnectionSettings(connectionString: url))
        try connection.execute(
            SQLScript(trustedSQL: "CREATE ROLE chatty_backend; ALTER ROLE chatty_backend SET log_statement = 'all'"),
            step: "a role that logs everything")
        let run = try KeyAdminProcess.run(["--database-url", url, "--doctor"])
        let line = run.stdout.split(separator: "\n").first {
            $0.contains("log_statement = all for role chatty_backend")
        }
        #expect(line?.hasPrefix("warn") == true, "\(run.stdout)")
        #expect(run.stdout.contains("ALTER ROLE chatty_backend RESET log_statement;"), "\(run.stdout)")
    }

    @Test func anUnmigratedDatabaseIsOneSchemaFailureNotOnePerCheck() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let output = try doctor(database)
            #expect(output.status == 1)
            #expect(
                line(output, "FAIL", "schema", "the KeyAdmin tables are not in this database") != nil,
                "\(output.stdout)")
            #expect(!output.stdout.contains("could not check"), "\(output.stdout)")
        }
    }

    /// Whoever may update providers may point an endpoint at a host of their own, and the next
    /// --check would send it every key: the doctor shows where each provider's keys go.
    @Test func endpointsThatAreNotTheProvidersOwnAreShown() throws {
        try breaking(
            """
            UPDATE public.providers SET endpoint_url = 'https://keys.example.net/v1', api_style = 'openai'
            WHERE provider_name = 'openai';
            INSERT INTO public.providers (provider_name, endpoint_url, api_style) VALUES
                ('inhouse', 'https://llm.example.com/v1', 'openai'),
                ('standin', 'http://127.0.0.1:9/v1', 'openai'),
                ('psqlmade', 'http://10.1.2.3/v1', 'openai'),
                ('keypath', 'https://127.0.0.1:9/v1/sk-proj-abcdefghijklmnop1234', 'openai');
            """
        ) { database in
            let output = try doctor(database)
            #expect(output.status == 1, "\(output.stdout)")
            #expect(
                line(output, "warn", "endpoints", "openai")?.contains(
                    "--check sends its keys to keys.example.net, not to api.openai.com") == true, "\(output.stdout)")
            #expect(line(output, "warn", "endpoints", "standin")?.contains("plain http to 127.0.0.1") == true)
            #expect(line(output, "ok", "endpoints", "inhouse")?.contains("https://llm.example.com/v1/models") == true)
            #expect(line(output, "FAIL", "endpoints", "psqlmade")?.contains("not one keys may be sent to") == true)
            #expect(output.stdout.contains("keyadmin --history --provider openai shows who set it"))
            #expect(!output.stdout.contains("abcdefghijklmnop"), "the doctor quoted a key-shaped URL")
            // And --check itself refuses an endpoint psql wrote, before sending anything (this one
            // is on loopback, so that even a check that did not refuse would reach nothing else).
            _ = try KeyAdminProcess.run(
                ["--database-url", database.connectionString, "--add-key", "keypath", "sk-psql-made-00000001"])
            let check = try KeyAdminProcess.run(
                ["--database-url", database.connectionString, "--check", "keypath"],
                environment: ["KEYADMIN_ACTOR": "ops@test"])
            #expect(check.status == 1 && check.stderr.contains("shaped like a key"), "\(check.stderr)")
            #expect(!check.stdout.contains("checking"), "\(check.stdout)")
        }
    }

    /// A key an operator disabled is the operator's decision, not news from a backend.
    @Test func keysDisabledByAnOperatorAreNotReportedAsDisabledAutomatically() throws {
        try breaking("UPDATE public.provider_api_keys SET disabled_at = now() WHERE key_number = 1") { database in
            let output = try doctor(database)
            #expect(output.status == 0, "\(output.stderr)")
            #expect(!output.stdout.contains("disabled automatically"), "\(output.stdout)")
            #expect(line(output, "ok", "pool health", "openai")?.contains("1 of 2 keys available") == true)
        }
    }

    @Test(arguments: [
        (
            "GRANT SELECT ON public.provider_api_keys TO anon", "FAIL", "privileges", "public.provider_api_keys",
            "REVOKE ALL ON TABLE public.provider_api_keys FROM anon;"
        ),
        (
            "GRANT SELECT ON public.provider_api_keys TO PUBLIC", "FAIL", "privileges", "PUBLIC (every role)",
            "FROM PUBLIC;"
        ),
        (
            "GRANT EXECUTE ON FUNCTION public.get_api_key(text, integer) TO authenticated", "FAIL", "privileges",
            "public.get_api_key(text, integer)", "REVOKE ALL ON FUNCTION"
        ),
        ("GRANT SELECT ON keyadmin.key_events TO anon", "FAIL", "privileges", "keyadmin.key_events", "FROM anon;"),
        (
            "ALTER TABLE public.provider_api_keys DISABLE ROW LEVEL SECURITY", "FAIL", "row level security",
            "public.provider_api_keys", "ENABLE ROW LEVEL SECURITY"
        ),
        (
            "CREATE POLICY peek ON public.provider_api_keys FOR SELECT TO anon USING (true)", "FAIL",
            "row level security", "policy peek", "DROP POLICY peek"
        ),
        (
            "CREATE FUNCTION public.all_keys() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT api_key FROM public.provider_api_keys'",
            "FAIL", "indirect exposure", "all_keys()", "REVOKE ALL ON FUNCTION"
        ),
        (
            "CREATE VIEW public.key_view AS SELECT api_key FROM public.provider_api_keys", "FAIL", "indirect exposure",
            "key_view", "REVOKE ALL ON"
        ),
        (
            "ALTER FUNCTION public.get_api_key(text, integer) SECURITY DEFINER", "FAIL", "functions",
            "public.get_api_key", "SECURITY INVOKER;"
        ),
        (
            "ALTER FUNCTION public.get_random_api_key(text) RESET search_path", "FAIL", "functions",
            "public.get_random_api_key", "SET search_path"
        ),
        (
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET log_statement = ''all''', current_database()); END $$",
            "warn", "server logging", "log_statement = all for database", "RESET log_statement;"
        ),
        (
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET log_min_duration_statement = 0', current_database()); END $$",
            "warn", "server logging", "log_min_duration_statement = 0 for database", "RESET log_min_duration_statement;"
        ),
        (
            "DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I SET log_parameter_max_length_on_error = -1', current_user, current_database()); END $$",
            "warn", "server logging", "log_parameter_max_length_on_error = -1 for role",
            "RESET log_parameter_max_length_on_error;"
        ),
        (
            "GRANT TRUNCATE ON public.provider_api_keys TO service_role", "warn", "privileges",
            "public.provider_api_keys", "REVOKE TRUNCATE"
        ),
        // A write that bypassed the triggers (a restore as replica): the picks' slots are stale.
        (
            "SET session_replication_role = replica; UPDATE provider_api_keys SET weight = 900 WHERE key_number = 2; "
                + "RESET session_replication_role",
            "FAIL", "key slots", "openai", "SELECT keyadmin.rebuild_key_slots();"
        ),
        // A weight raised within its class behind the triggers' back: the tier's largest weight is stale.
        (
            "UPDATE provider_api_keys SET weight = 2 WHERE key_number = 2; SET session_replication_role = replica; "
                + "UPDATE provider_api_keys SET weight = 3 WHERE key_number = 2; RESET session_replication_role",
            "FAIL", "key slots", "openai", "SELECT keyadmin.rebuild_key_slots();"
        ),
        (
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'doctor_reader') THEN CREATE ROLE doctor_reader; END IF; END $$; GRANT SELECT ON public.provider_api_keys TO doctor_reader",
            "warn", "readers", "doctor_reader can read keys", "REVOKE SELECT"
        ),
        (
            "UPDATE public.provider_api_keys SET disabled_at = now()", "FAIL", "pool health", "openai",
            "no available key"
        ),
        (
            "UPDATE public.provider_api_keys SET expires_at = now() + interval '2 days'", "warn", "pool health",
            "expiring within 7 days: #1, #2", "--set-expiry"
        ),
        (
            "UPDATE public.provider_api_keys SET disabled_at = now(), disabled_automatically = true WHERE key_number = 1",
            "warn", "pool health", "disabled automatically", "--state disabled"
        ),
        (
            """
            INSERT INTO public.provider_api_keys (provider_id, key_number, api_key)
                SELECT provider_id, 3, 'sk-third-doctor-key-0003' FROM public.provider_api_keys WHERE key_number = 1;
            UPDATE public.provider_api_keys SET disabled_at = now() WHERE key_number IN (1, 2)
            """,
            "warn", "pool health", "only 1 of 3 keys available", "keyadmin --list --provider openai"
        ),
        (
            "DELETE FROM keyadmin.schema_migrations WHERE version = '024'", "FAIL", "schema",
            "not applied: 024_audit_trail.sql", "keyadmin --migrate"
        ),
        (
            "UPDATE keyadmin.schema_migrations SET checksum = 'edited' WHERE version = '023'", "FAIL", "schema",
            "023_key_lifecycle.sql", "restore the file"
        ),
    ])
    func eachBreakageIsNamedWithItsFix(_ breakage: (String, String, String, String, String)) throws {
        let (sql, status, check, object, fix) = breakage
        try breaking(sql) { database in
            let output = try doctor(database)
            let found = line(output, status, check, object)
            #expect(found != nil, "no \(status) \(check) line naming \(object):\n\(output.stdout)")
            #expect(found?.contains(fix) == true, "\(found ?? "")")
            #expect(output.status == (status == "FAIL" ? 1 : 0), "\(output.stderr)")
            if status == "warn" {
                #expect(try doctor(database, ["--strict"]).status == 1, "--strict fails on warnings")
            }
            if status == "FAIL" {
                #expect(output.stderr.hasPrefix("error: 1 check failed") || output.stderr.contains("checks failed"))
                let json = try doctor(database, ["--json"])
                #expect(json.status == 1)
                #expect(
                    (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) != nil,
                    "a whole document even when failing")
            }
        }
    }
}
