import KeyStore
import Postgres

// The public SQL functions: present, SECURITY INVOKER, search_path pinned.
extension Doctor {
    func functionShapes() throws -> [DoctorFinding] {
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
