import KeyStore
import Postgres

// Who can reach the keys: Row Level Security, privileges, readers, and indirect exposure through functions and views.
extension Doctor {
    func rowLevelSecurity() throws -> [DoctorFinding] {
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
            let name: String = try row.decode("name")
            let policy: String = try row.decode("policyname")
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
    func exposedRolesPresent() throws -> [String] {
        try rows(
            "SELECT r AS role FROM unnest(\(Self.exposedRoles)::text[]) AS r WHERE r = 'public' OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)",
            step: "reading roles"
        ).map { try $0.decode("role", as: String.self) }
    }

    /// A role as a REVOKE names it.
    func grantee(_ role: String) -> String { role == "public" ? "PUBLIC" : quoteIdentifier(role) }

    func privileges(exposed roles: [String]) throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        // has_*_privilege resolves membership and inheritance as PostgreSQL itself does; the
        // object's ACL says who holds the grant, so that a fix revokes it where it is.
        for row in try rows(
            """
            SELECT r.role, o.kind, o.name,
                   CASE o.kind
                       WHEN 'table' THEN has_table_privilege(r.role, o.name, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                       WHEN 'sequence' THEN has_sequence_privilege(r.role, o.name, 'USAGE, SELECT, UPDATE')
                       WHEN 'function' THEN has_function_privilege(r.role, o.name, 'EXECUTE')
                   END AS granted,
                   array_to_string(ARRAY(
                       SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee)::text END
                       FROM aclexplode(o.acl) AS a
                       WHERE a.grantee = 0
                          OR (r.role <> 'public' AND pg_has_role(r.role, a.grantee, 'USAGE'))
                   ), ',') AS holders
            FROM unnest(\(roles)::text[]) AS r(role)
            CROSS JOIN (
                SELECT 'table' AS kind, t AS name,
                       (SELECT coalesce(c.relacl, acldefault('r', c.relowner)) FROM pg_class AS c WHERE c.oid = t::regclass)
                           AS acl
                FROM unnest(\(Self.keyTables + ["keyadmin.key_events", "keyadmin.schema_migrations"])::text[]) AS t
                WHERE to_regclass(t) IS NOT NULL
                UNION ALL
                SELECT 'sequence', s,
                       (SELECT coalesce(c.relacl, acldefault('s', c.relowner)) FROM pg_class AS c WHERE c.oid = s::regclass)
                FROM (SELECT pg_get_serial_sequence(t, 'id') AS s FROM unnest(\(Self.keyTables)::text[]) AS t) AS q
                WHERE s IS NOT NULL
                UNION ALL
                SELECT 'function', f,
                       (SELECT coalesce(p.proacl, acldefault('f', p.proowner)) FROM pg_proc AS p
                        WHERE p.oid = f::regprocedure)
                FROM unnest(\(Self.functions)::text[]) AS f WHERE to_regprocedure(f) IS NOT NULL
            ) AS o
            ORDER BY r.role, o.kind, o.name
            """, step: "reading privileges")
        where try row.decode("granted", as: Bool.self) {
            let role: String = try row.decode("role")
            let kind: String = try row.decode("kind")
            let name: String = try row.decode("name")
            let holders = try row.decode("holders", as: String.self).split(separator: ",").map(String.init)
            let object = kind == "function" ? "FUNCTION \(name)" : "\(kind.uppercased()) \(name)"
            let who = role == "public" ? "PUBLIC (every role)" : role
            // Revoke where the grant is: from the role itself, else from PUBLIC, else the
            // membership through which it has it.
            let (how, fix) =
                if holders.contains(role) {
                    ("", "REVOKE ALL ON \(object) FROM \(grantee(role));")
                } else if holders.contains("public") {
                    (" through PUBLIC", "REVOKE ALL ON \(object) FROM PUBLIC;")
                } else if let holder = holders.first {
                    (" through its membership in \(holder)", "REVOKE \(quoteIdentifier(holder)) FROM \(grantee(role));")
                } else {
                    ("", "REVOKE ALL ON \(object) FROM \(grantee(role));")
                }
            findings.append(DoctorFinding("privileges", .fail, name, "\(who) has privileges on it\(how)", fix: fix))
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
            let extra: String = try row.decode("extra")
            let name: String = try row.decode("name")
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
    func readers() throws -> [DoctorFinding] {
        var expected: [String] = []
        var findings: [DoctorFinding] = []
        var throughPublic: [String] = []
        for row in try rows(
            """
            WITH holders AS (
                SELECT a.grantee
                FROM pg_class AS c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) AS a
                WHERE c.oid = 'public.provider_api_keys'::regclass AND a.privilege_type = 'SELECT'
            )
            SELECT r.rolname, r.rolsuper,
                   r.oid = (SELECT relowner FROM pg_class WHERE oid = 'public.provider_api_keys'::regclass) AS owner,
                   EXISTS (SELECT 1 FROM holders WHERE grantee = r.oid) AS direct,
                   (SELECT min(g.rolname) FROM holders JOIN pg_roles AS g ON g.oid = holders.grantee
                    WHERE holders.grantee <> r.oid AND pg_has_role(r.oid, holders.grantee, 'USAGE')) AS member_of
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
            } else if try row.decode("direct", as: Bool.self) {
                findings.append(
                    DoctorFinding(
                        "readers", .warn, "public.provider_api_keys", "\(name) can read keys",
                        fix: "REVOKE SELECT ON TABLE public.provider_api_keys FROM \(quoteIdentifier(name));"))
            } else if let holder: String = try row.decodeIfPresent("member_of") {
                findings.append(
                    DoctorFinding(
                        "readers", .warn, "public.provider_api_keys",
                        "\(name) can read keys through its membership in \(holder)",
                        fix: "REVOKE \(quoteIdentifier(holder)) FROM \(quoteIdentifier(name));"))
            } else {
                // No grant of its own and no membership: the grant is PUBLIC's.
                throughPublic.append(name)
            }
        }
        if !throughPublic.isEmpty {
            findings.append(
                DoctorFinding(
                    "readers", .warn, "public.provider_api_keys",
                    "PUBLIC holds SELECT: every role can read keys (\(throughPublic.joined(separator: ", ")))",
                    fix: "REVOKE SELECT ON TABLE public.provider_api_keys FROM PUBLIC;"))
        }
        return [
            DoctorFinding(
                "readers", .ok, "public.provider_api_keys", "can read keys: \(expected.joined(separator: ", "))")
        ] + findings
    }

    // MARK: - Indirect exposure

    func indirectExposure(exposed roles: [String]) throws -> [DoctorFinding] {
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
}
