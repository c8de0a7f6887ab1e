import Postgres

/// One finding of `keyadmin --doctor`: a check, its verdict, the object it is about, and the
/// fix (an exact SQL statement where there is one).
public struct DoctorFinding: Sendable, Equatable {
    public enum Status: String, Sendable { case ok, warn, fail }

    public let check: String
    public let status: Status
    public let object: String
    public let message: String
    public let fix: String?

    init(_ check: String, _ status: Status, _ object: String, _ message: String, fix: String? = nil) {
        self.check = check
        self.status = status
        self.object = object
        self.message = message
        self.fix = fix
    }
}

/// The promises the schema makes, checked on a live database: TLS, migrations, Row Level
/// Security, privileges as PostgreSQL resolves them, indirect exposure through functions and
/// views, the public functions, server logging, and the health of every pool. Reads only.
public struct Doctor {
    let store: KeyStore
    var connection: Connection { store.connection }

    public init(store: KeyStore) { self.store = store }

    /// The roles of Supabase's REST API, and PUBLIC, which every role is a member of.
    static let exposedRoles = ["public", "anon", "authenticated"]
    static let keyTables = ["public.providers", "public.provider_api_keys"]
    static let functions = [
        "public.get_api_key(text, integer)", "public.get_random_api_key(text)",
        "public.report_api_key_result(text, text, integer, integer)",
    ]

    public func run() -> [DoctorFinding] {
        var findings = transport()
        findings += checked("schema", schema)
        // Without the tables every other check could only say "could not check".
        let tablesExist =
            (try? rows(
                "SELECT to_regclass('public.provider_api_keys') IS NOT NULL AND to_regclass('public.providers') IS NOT NULL AS present",
                step: "looking for the tables"
            ).first?.decode("present", as: Bool.self)) ?? false
        guard tablesExist else {
            return findings + [
                DoctorFinding(
                    "schema", .fail, "public.provider_api_keys", "the KeyAdmin tables are not in this database",
                    fix: "keyadmin --migrate")
            ]
        }
        // Read once for the two checks that need it; a failure shows in both.
        let exposed = Result { try exposedRolesPresent() }
        for (name, check) in [
            ("row level security", rowLevelSecurity), ("privileges", { try privileges(exposed: exposed.get()) }),
            ("readers", readers), ("indirect exposure", { try indirectExposure(exposed: exposed.get()) }),
            ("functions", functionShapes), ("server logging", serverLogging), ("pool health", poolHealth),
        ] as [(String, () throws -> [DoctorFinding])] {
            findings += checked(name, check)
        }
        return findings
    }

    /// A check that could not run is a finding too, never a crash.
    private func checked(_ name: String, _ check: () throws -> [DoctorFinding]) -> [DoctorFinding] {
        do {
            return try check()
        } catch let error as KeyStoreError {
            return [DoctorFinding(name, .fail, "database", error.message, fix: error.hint)]
        } catch let error as PostgresError {
            return [DoctorFinding(name, .fail, "database", "could not check: \(error.message)")]
        } catch {
            return [DoctorFinding(name, .fail, "database", "could not check: \(error)")]
        }
    }

    private func rows(_ query: Query, step: String) throws -> [Row] {
        try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
            try transaction.query(query, step: step).rows
        }
    }

    // MARK: - Connection

    private func transport() -> [DoctorFinding] {
        let security = connection.transportSecurity
        let serverSaysTLS =
            (try? rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", step: "reading pg_stat_ssl")
                .first?.decode("ssl", as: Bool.self)) ?? security.tls
        let target = store.target
        if security.local {
            return [
                DoctorFinding(
                    "connection", .ok, target,
                    serverSaysTLS ? "TLS in use (server on this machine)" : "server on this machine; no TLS needed")
            ]
        }
        if !serverSaysTLS {
            return [
                DoctorFinding(
                    "connection", .fail, target,
                    "this session is not encrypted: the password and every key cross the network in clear",
                    fix: "add sslmode=verify-full (and sslrootcert=...) to the connection string")
            ]
        }
        if security.sslMode != "verify-full" {
            return [
                DoctorFinding(
                    "connection", .warn, target,
                    "TLS in use, but the server's certificate is not verified (sslmode=\(security.sslMode))",
                    fix: "add sslmode=verify-full&sslrootcert=/path/to/ca.crt to the connection string")
            ]
        }
        return [
            DoctorFinding("connection", .ok, target, "TLS in use, server certificate verified (sslmode=verify-full)")
        ]
    }

    // MARK: - Schema

    private func schema() throws -> [DoctorFinding] {
        do {
            let outcome = try Migrator(connection: connection).run(dryRun: true)
            if outcome.applied.isEmpty {
                return [
                    DoctorFinding(
                        "schema", .ok, "keyadmin.schema_migrations",
                        "all \(outcome.alreadyApplied.count) migrations applied, none changed since")
                ]
            }
            return [
                DoctorFinding(
                    "schema", .fail, "keyadmin.schema_migrations",
                    "not applied: \(outcome.applied.map(\.fileName).joined(separator: ", "))", fix: "keyadmin --migrate"
                )
            ]
        } catch .migrationDrift(let fileName) {
            return [
                DoctorFinding(
                    "schema", .fail, fileName, "changed since it was applied",
                    fix: "restore the file as applied; put changes in a new migration")
            ]
        } catch .unknownMigrationsApplied(let versions) {
            return [
                DoctorFinding(
                    "schema", .warn, "keyadmin.schema_migrations",
                    "applied by a newer keyadmin: \(versions.joined(separator: ", "))", fix: "upgrade keyadmin")
            ]
        } catch {
            throw error
        }
    }

    // MARK: - Row Level Security

    private func rowLevelSecurity() throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for row in try rows(
            """
            SELECT c.relnamespace::regnamespace::text || '.' || c.relname AS name, c.relrowsecurity AS enabled
            FROM pg_class AS c WHERE c.oid IN ('public.providers'::regclass, 'public.provider_api_keys'::regclass)
            ORDER BY 1
            """, step: "reading Row Level Security")
        {
            let name: String = try row.decode("name")
            findings.append(
                try row.decode("enabled", as: Bool.self)
                    ? DoctorFinding("row level security", .ok, name, "enabled")
                    : DoctorFinding(
                        "row level security", .fail, name,
                        "Row Level Security is off: any role with a privilege sees every row",
                        fix: "ALTER TABLE \(name) ENABLE ROW LEVEL SECURITY;"))
        }
        for row in try rows(
            """
            SELECT schemaname || '.' || tablename AS name, policyname, array_to_string(roles, ', ') AS roles
            FROM pg_policies
            WHERE schemaname = 'public' AND tablename IN ('providers', 'provider_api_keys')
              AND roles <> '{service_role}'::name[]
            ORDER BY 1, 2
            """, step: "reading policies")
        {
            let name: String = try row.decode("name"), policy: String = try row.decode("policyname")
            findings.append(
                DoctorFinding(
                    "row level security", .fail, "\(name) policy \(policy)",
                    "the policy applies to \(try row.decode("roles", as: String.self)), not only to service_role",
                    fix: "DROP POLICY \(quoteIdentifier(policy)) ON \(name);"))
        }
        return findings
    }

    // MARK: - Privileges

    /// The exposed roles this database has (PUBLIC always; anon and authenticated on Supabase).
    private func exposedRolesPresent() throws -> [String] {
        try rows(
            "SELECT r AS role FROM unnest(\(Self.exposedRoles)::text[]) AS r WHERE r = 'public' OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)",
            step: "reading roles"
        ).map { try $0.decode("role", as: String.self) }
    }

    /// A role as a REVOKE names it.
    private func grantee(_ role: String) -> String { role == "public" ? "PUBLIC" : quoteIdentifier(role) }

    private func privileges(exposed roles: [String]) throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        // has_*_privilege resolves membership and inheritance as PostgreSQL itself does.
        for row in try rows(
            """
            SELECT r.role, o.kind, o.name,
                   CASE o.kind
                       WHEN 'table' THEN has_table_privilege(r.role, o.name, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                       WHEN 'sequence' THEN has_sequence_privilege(r.role, o.name, 'USAGE, SELECT, UPDATE')
                       WHEN 'function' THEN has_function_privilege(r.role, o.name, 'EXECUTE')
                   END AS granted
            FROM unnest(\(roles)::text[]) AS r(role)
            CROSS JOIN (
                SELECT 'table' AS kind, t AS name
                FROM unnest(\(Self.keyTables + ["keyadmin.key_events", "keyadmin.schema_migrations"])::text[]) AS t
                WHERE to_regclass(t) IS NOT NULL
                UNION ALL
                SELECT 'sequence', pg_get_serial_sequence(t, 'id') FROM unnest(\(Self.keyTables)::text[]) AS t
                UNION ALL
                SELECT 'function', f FROM unnest(\(Self.functions)::text[]) AS f WHERE to_regprocedure(f) IS NOT NULL
            ) AS o
            ORDER BY r.role, o.kind, o.name
            """, step: "reading privileges")
        where try row.decode("granted", as: Bool.self) {
            let role: String = try row.decode("role"), kind: String = try row.decode("kind"),
                name: String = try row.decode("name")
            let object = kind == "function" ? "FUNCTION \(name)" : "\(kind.uppercased()) \(name)"
            findings.append(
                DoctorFinding(
                    "privileges", .fail, name,
                    "\(role == "public" ? "PUBLIC (every role)" : role) has privileges on it",
                    fix: "REVOKE ALL ON \(object) FROM \(grantee(role));"))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding(
                    "privileges", .ok, "key tables, sequences, functions, events",
                    "no privilege for \(roles.map { $0 == "public" ? "PUBLIC" : $0 }.joined(separator: ", "))"))
        }
        // The service role: exactly SELECT, INSERT, UPDATE, DELETE on the tables (migration 025).
        for row in try rows(
            """
            SELECT t AS name, array_to_string(ARRAY(
                       SELECT p FROM unnest(ARRAY['TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p
                       WHERE has_table_privilege('service_role', t, p)), ', ') AS extra
            FROM unnest(\(Self.keyTables)::text[]) AS t
            WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role')
            """, step: "reading the service role's privileges")
        {
            let extra: String = try row.decode("extra"), name: String = try row.decode("name")
            if !extra.isEmpty {
                findings.append(
                    DoctorFinding(
                        "privileges", .warn, name, "service_role also has \(extra)",
                        fix: "REVOKE \(extra) ON TABLE \(name) FROM service_role;"))
            }
        }
        return findings
    }

    /// Every role that can read keys, by name: expected are the owner, superusers and the
    /// service role; anyone else is a warning to look at.
    private func readers() throws -> [DoctorFinding] {
        var expected: [String] = [], unexpected: [String] = []
        for row in try rows(
            """
            SELECT r.rolname, r.rolsuper,
                   r.oid = (SELECT relowner FROM pg_class WHERE oid = 'public.provider_api_keys'::regclass) AS owner
            FROM pg_roles AS r
            WHERE has_table_privilege(r.oid, 'public.provider_api_keys', 'SELECT')
              AND (r.rolname NOT LIKE 'pg\\_%' OR EXISTS (SELECT 1 FROM pg_auth_members AS m WHERE m.roleid = r.oid))
            ORDER BY r.rolname
            """, step: "reading who can read keys")
        {
            let name: String = try row.decode("rolname")
            if try row.decode("rolsuper", as: Bool.self) {
                expected.append("\(name) (superuser)")
            } else if try row.decode("owner", as: Bool.self) {
                expected.append("\(name) (owner)")
            } else if name == "service_role" {
                expected.append(name)
            } else {
                unexpected.append(name)
            }
        }
        var findings = [
            DoctorFinding(
                "readers", .ok, "public.provider_api_keys", "can read keys: \(expected.joined(separator: ", "))")
        ]
        for name in unexpected {
            findings.append(
                DoctorFinding(
                    "readers", .warn, "public.provider_api_keys", "\(name) can read keys",
                    fix: "REVOKE SELECT ON TABLE public.provider_api_keys FROM \(quoteIdentifier(name));"))
        }
        return findings
    }

    // MARK: - Indirect exposure

    private func indirectExposure(exposed roles: [String]) throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        let revokeFrom = roles.map(grantee).joined(separator: ", ")
        for row in try rows(
            """
            SELECT p.oid::regprocedure::text AS name
            FROM pg_proc AS p
            WHERE p.prosecdef
              AND (p.prosrc ILIKE '%provider_api_keys%' OR coalesce(pg_get_function_sqlbody(p.oid), '') ILIKE '%provider_api_keys%')
              AND EXISTS (SELECT 1 FROM unnest(\(roles)::text[]) AS r WHERE has_function_privilege(r, p.oid, 'EXECUTE'))
            ORDER BY 1
            """, step: "looking for SECURITY DEFINER functions over the keys")
        {
            let name: String = try row.decode("name")
            findings.append(
                DoctorFinding(
                    "indirect exposure", .fail, name,
                    "a SECURITY DEFINER function that reads the key table is executable by an API role: it hands out keys with its owner's rights",
                    fix: "REVOKE ALL ON FUNCTION \(name) FROM \(revokeFrom);"))
        }
        for row in try rows(
            """
            SELECT DISTINCT v.relnamespace::regnamespace::text || '.' || v.relname AS name
            FROM pg_depend AS d
            JOIN pg_rewrite AS w ON w.oid = d.objid
            JOIN pg_class AS v ON v.oid = w.ev_class
            WHERE d.refobjid = 'public.provider_api_keys'::regclass AND v.oid <> d.refobjid
              AND v.relkind IN ('v', 'm')
              AND NOT coalesce('security_invoker=true' = ANY (v.reloptions), false)
              AND EXISTS (SELECT 1 FROM unnest(\(roles)::text[]) AS r WHERE has_table_privilege(r, v.oid, 'SELECT'))
            ORDER BY 1
            """, step: "looking for views over the keys")
        {
            let name: String = try row.decode("name")
            findings.append(
                DoctorFinding(
                    "indirect exposure", .fail, name, "a view over the key table is selectable by an API role",
                    fix: "REVOKE ALL ON \(name) FROM \(revokeFrom);"))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding(
                    "indirect exposure", .ok, "functions and views",
                    "no SECURITY DEFINER function or view reaches the keys for an API role"))
        }
        return findings
    }

    // MARK: - The public functions

    private func functionShapes() throws -> [DoctorFinding] {
        try rows(
            """
            SELECT f AS name, p.oid IS NOT NULL AS present, coalesce(p.prosecdef, false) AS definer,
                   coalesce(EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%'), false) AS pinned
            FROM unnest(\(Self.functions)::text[]) AS f
            LEFT JOIN pg_proc AS p ON p.oid = to_regprocedure(f)
            """, step: "reading the public functions"
        ).map { row in
            let name: String = try row.decode("name")
            if !(try row.decode("present", as: Bool.self)) {
                return DoctorFinding(
                    "functions", .fail, name, "missing (or its signature changed)", fix: "keyadmin --migrate")
            }
            if try row.decode("definer", as: Bool.self) {
                return DoctorFinding(
                    "functions", .fail, name, "SECURITY DEFINER: it runs with its owner's rights",
                    fix: "ALTER FUNCTION \(name) SECURITY INVOKER;")
            }
            if !(try row.decode("pinned", as: Bool.self)) {
                return DoctorFinding(
                    "functions", .fail, name, "its search_path is not pinned",
                    fix: "ALTER FUNCTION \(name) SET search_path = '';")
            }
            return DoctorFinding("functions", .ok, name, "SECURITY INVOKER, search_path pinned")
        }
    }

    // MARK: - Server logging

    private func serverLogging() throws -> [DoctorFinding] {
        let row = try rows(
            """
            SELECT current_setting('log_statement') AS log_statement,
                   current_setting('log_min_duration_statement') AS min_duration,
                   current_setting('log_parameter_max_length') AS parameter_length
            """, step: "reading the logging settings"
        ).first
        guard let row else { return [] }
        var findings: [DoctorFinding] = []
        let statement: String = try row.decode("log_statement")
        if statement == "mod" || statement == "all" {
            findings.append(
                DoctorFinding(
                    "server logging", .warn, "log_statement = \(statement)",
                    "every statement that adds or changes a key is written to the server log, key included",
                    fix: "ALTER SYSTEM SET log_statement = 'ddl'; SELECT pg_reload_conf();"))
        }
        let minDuration: String = try row.decode("min_duration"),
            parameters: String = try row.decode("parameter_length")
        if minDuration == "0", parameters != "0" {
            findings.append(
                DoctorFinding(
                    "server logging", .warn, "log_min_duration_statement = 0",
                    "every statement is logged with its parameters, keys included",
                    fix: "ALTER SYSTEM SET log_parameter_max_length = 0; SELECT pg_reload_conf();"))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding("server logging", .ok, "log_statement = \(statement)", "keys do not reach the server log")
            )
        }
        return findings
    }

    // MARK: - Pool health

    private func poolHealth() throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for row in try rows(
            """
            SELECT p.provider_name,
                   count(k.id)::integer AS total,
                   count(k.id) FILTER (WHERE \(KeySQL.state) = 'available')::integer AS available,
                   array_to_string(array_agg('#' || k.key_number ORDER BY k.key_number)
                       FILTER (WHERE k.disabled_at IS NULL AND k.expires_at > now() AND k.expires_at <= now() + interval '7 days'), ', ')
                       AS expiring,
                   array_to_string(array_agg('#' || k.key_number ORDER BY k.key_number)
                       FILTER (WHERE k.disabled_at IS NOT NULL AND k.disabled_automatically), ', ') AS auto_disabled
            FROM public.providers AS p
            LEFT JOIN public.provider_api_keys AS k ON k.provider_id = p.id
            GROUP BY p.provider_name
            ORDER BY p.provider_name
            """, step: "reading the pools")
        {
            let name: String = try row.decode("provider_name")
            let total: Int = try row.decode("total"), available: Int = try row.decode("available")
            if available == 0 {
                findings.append(
                    DoctorFinding(
                        "pool health", .fail, name, "no available key (\(total) key\(total == 1 ? "" : "s"))",
                        fix: "keyadmin --list --provider \(name)"))
            } else if available * 2 < total {
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name, "only \(available) of \(total) keys available",
                        fix: "keyadmin --list --provider \(name)"))
            } else {
                findings.append(DoctorFinding("pool health", .ok, name, "\(available) of \(total) keys available"))
            }
            if let expiring: String = try row.decodeIfPresent("expiring"), !expiring.isEmpty {
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name,
                        "keys expiring within 7 days: \(expiring)",
                        fix: "keyadmin --update-key \(name) NUM - (a new key), or --set-expiry"))
            }
            if let disabled: String = try row.decodeIfPresent("auto_disabled"), !disabled.isEmpty {
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name,
                        "keys disabled automatically (a 401, 402 or 403 reported): \(disabled)",
                        fix: "keyadmin --list --provider \(name) --state disabled"))
            }
        }
        return findings
    }

    /// An identifier in double quotes when it needs them, for the fixes shown.
    private func quoteIdentifier(_ name: String) -> String {
        let plain = name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        return plain
            ? name
            : "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
