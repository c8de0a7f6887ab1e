import KeyStore
import Postgres

// The public SQL functions: present, SECURITY INVOKER, search_path pinned.
extension Doctor {
    func functionShapes() throws -> [DoctorFinding] {
        try shapes() + overloads()
    }

    /// A public function with a second form (an old migration applied again after the one that
    /// replaced it: 023 or 031 after 033) makes every call that both forms could take fail as
    /// ambiguous, backends' calls included.
    private func overloads() throws -> [DoctorFinding] {
        try rows(
            """
            SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS extra
            FROM pg_proc AS p
            WHERE p.pronamespace = 'public'::regnamespace
              AND p.proname IN (SELECT split_part(split_part(f, '(', 1), '.', 2) FROM unnest(\(Self.functions)::text[]) AS f)
              AND NOT p.oid = ANY (SELECT to_regprocedure(f) FROM unnest(\(Self.functions)::text[]) AS f
                                   WHERE to_regprocedure(f) IS NOT NULL)
            ORDER BY 1
            """, step: "looking for second forms of the public functions"
        ).map { row in
            let extra: String = try row.decode("extra")
            return DoctorFinding(
                "functions", .fail, "public.\(extra)",
                "a second form of a public function: calls that both forms take fail as ambiguous",
                fix: "DROP FUNCTION public.\(extra);")
        }
    }

    private func shapes() throws -> [DoctorFinding] {
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
                    "functions", .fail, name, "missing (or its signature changed)", fix: .applyMigrations)
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
}
