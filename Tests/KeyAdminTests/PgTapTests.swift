import Foundation
import Postgres
import TestSupport
import Testing

enum PgTap {
    static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/pg_prove")
            && ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/share/postgresql")) ?? []).contains {
                FileManager.default.fileExists(atPath: "/usr/share/postgresql/\($0)/extension/pgtap.control")
            }
    }
}

/// supabase/tests/keyadmin_security.test.sql, run with pg_prove as a Supabase user would run it
/// with `supabase test db`: it passes on a migrated Supabase-like database and fails on one
/// whose keys an API role can read.
@Suite(
    .enabled(if: PgTap.isAvailable, "pg_prove or the pgtap extension is not installed (scripts/test.sh installs them)"))
struct PgTapTests {
    static let testFile = repositoryRoot.appendingPathComponent("supabase/tests/keyadmin_security.test.sql").path

    /// pg_prove takes a database name; the server and credentials go by libpq's variables.
    func prove(_ database: TestDatabase) throws -> (status: Int32, output: String) {
        let fields = try ConnectionSettings(connectionString: database.connectionString).parsedFields()
        var environment = ChildEnvironment.make()
        for (field, variable) in [
            ("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("password", "PGPASSWORD"),
            ("sslmode", "PGSSLMODE"),
        ] {
            if let value = fields[field] { environment[variable] = value }
        }
        return try runTool(["pg_prove", "-d", database.name, Self.testFile], environment: environment)
    }

    @Test func theSecurityPromisesHoldOnAMigratedSupabaseLikeDatabase() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            let result = try prove(database)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("All tests successful"), "\(result.output)")
        }
    }

    @Test func theyFailWhenAnAPIRoleCanReadTheKeys() throws {
        try TestDatabase.with(likeSupabase: true) { (database: TestDatabase) throws in
            try database.connect().execute(
                SQLScript(trustedSQL: "GRANT SELECT ON public.provider_api_keys TO anon"), step: "breaking it")
            let result = try prove(database)
            #expect(result.status != 0)
            #expect(result.output.contains("anon has no privilege on public.provider_api_keys"), "\(result.output)")
        }
    }
}
