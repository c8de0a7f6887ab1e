import Foundation
import KeyStore
import Postgres

/// A database of its own for one test, on the server that `scripts/test.sh` started
/// (TEST_DATABASE_URL, or libpq's PG* variables from pg_virtualenv). Tests never share one, so
/// they run in parallel; each is dropped when its test ends.
public final class TestDatabase: Sendable {
    /// The database's name, unique to the test.
    public let name: String
    /// A key=value connection string for this database (the password, if any, stays in PGPASSWORD).
    public let connectionString: String

    /// Runs `body` with a fresh database: migrated (cloned from a migrated template, which is
    /// fast), or empty; with Supabase's roles and default grants first if asked.
    public static func with<T>(
        migrated: Bool = true, likeSupabase: Bool = false, _ body: (TestDatabase) throws -> T
    ) throws -> T {
        let database = try TestDatabase(migrated: migrated, likeSupabase: likeSupabase)
        defer { database.drop() }
        return try body(database)
    }

    private init(migrated: Bool, likeSupabase: Bool) throws {
        name = "keyadmin_test_\(UUID().uuidString.prefix(8).lowercased())_\(getpid())"
        connectionString = try TestServer.settings.connectionString(withDatabase: name)
        let admin = try TestServer.adminConnection()
        if migrated, !likeSupabase {
            let template = try TestServer.migratedTemplate.get()
            try admin.execute(
                SQLScript(trustedSQL: "CREATE DATABASE \(name) TEMPLATE \(template)"), step: "creating \(name)")
            return
        }
        try admin.execute(SQLScript(trustedSQL: "CREATE DATABASE \(name)"), step: "creating \(name)")
        if likeSupabase {
            try TestServer.createSupabaseRoles()
            try connect().execute(
                SQLScript(trustedSQL: TestServer.supabaseDefaultGrants), step: "granting like Supabase")
        }
        if migrated {
            _ = try Migrator(connection: connect()).run(dryRun: false)
        }
    }

    /// Connection settings for this database, with the time limits given.
    public func settings(
        statementTimeout: Duration = .seconds(60), lockTimeout: Duration = .seconds(5)
    ) -> ConnectionSettings {
        ConnectionSettings(
            connectionString: connectionString, statementTimeout: statementTimeout,
            lockTimeout: lockTimeout, applicationName: "keyadmin-tests")
    }

    /// A new connection to this database.
    public func connect() throws -> Connection {
        try Connection(settings: settings())
    }

    /// A key store on a new connection to this database.
    public func store() throws -> KeyStore {
        KeyStore(connection: try connect())
    }

    /// The column named `value` of every row of `query`, as text.
    public func values(_ query: Query) throws -> [String?] {
        try connect().query(query, step: "test query").rows.map { try $0.decodeIfPresent("value", as: String.self) }
    }

    /// The single `value` of `query`, as an integer.
    public func integer(_ query: Query) throws -> Int? {
        try values(query).first.flatMap { $0.flatMap { Int($0) } }
    }

    /// Runs `statement` as `role` (SET LOCAL ROLE inside a transaction that is rolled back) and
    /// returns the SQLSTATE it failed with, or nil if it worked.
    public func attempt(_ statement: String, as role: String) throws -> SQLState? {
        try refusal(statement, as: role)?.sqlState
    }

    /// Like `attempt`, the whole error: its message says which object refused (a function, or
    /// the table behind it), which the SQLSTATE alone does not. Without `role`, as the test's
    /// own (superuser) connection.
    public func refusal(_ statement: String, as role: String? = nil) throws -> PGError? {
        struct RollBack: Error {}
        do {
            try connect().withTransaction { transaction in
                if let role {
                    try transaction.execute(SQLScript(trustedSQL: "SET LOCAL ROLE \(role)"), step: "becoming \(role)")
                }
                try transaction.execute(SQLScript(trustedSQL: statement), step: "as \(role ?? "the owner")")
                throw RollBack()  // roll back whatever worked
            }
        } catch let error as PGError {
            return error
        } catch is RollBack {
            return nil
        }
        return nil
    }

    func drop() {
        guard let admin = try? TestServer.adminConnection() else { return }
        _ = try? admin.execute(
            SQLScript(trustedSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), step: "dropping \(name)")
    }
}

/// The server the tests run against.
public enum TestServer {
    /// The server the tests use: TEST_DATABASE_URL, else libpq's PG* variables.
    public static let settings = ConnectionSettings(
        connectionString: ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] ?? "",
        applicationName: "keyadmin-tests")

    /// A connection to the server's `postgres` database, to create and drop databases.
    public static func adminConnection() throws -> Connection {
        try Connection(settings: settings)
    }

    /// Created once per test process, migrated by the migrator, dropped when the process exits.
    static let migratedTemplate: Result<String, Error> = Result {
        let name = "keyadmin_template_\(UUID().uuidString.prefix(8).lowercased())_\(getpid())"
        let admin = try adminConnection()
        try admin.execute(SQLScript(trustedSQL: "CREATE DATABASE \(name)"), step: "creating the template")
        let template = try Connection(
            settings: ConnectionSettings(connectionString: try settings.connectionString(withDatabase: name)))
        _ = try Migrator(connection: template).run(dryRun: false)
        templateToDrop.withLock { $0 = name }
        atexit {
            guard let name = TestServer.templateToDrop.withLock({ $0 }), let admin = try? TestServer.adminConnection()
            else { return }
            _ = try? admin.execute(
                SQLScript(trustedSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), step: "dropping the template")
        }
        return name
    }

    static let templateToDrop = Locked<String?>(nil)

    /// Supabase's API roles. Roles belong to the whole server, so they are created once, and
    /// creating one that another test just created is not an error.
    static func createSupabaseRoles() throws {
        try supabaseRolesCreated.get()
    }

    private static let supabaseRolesCreated: Result<Void, Error> = Result {
        try adminConnection().execute(
            SQLScript(
                trustedSQL: """
                    DO $$
                    BEGIN
                        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
                        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
                        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                    END
                    $$;
                    """), step: "creating Supabase's roles")
    }

    /// What Supabase's setup grants in schema public: everything, to all three API roles,
    /// on every table, sequence and function created later.
    static let supabaseDefaultGrants = """
        GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
        """
}
