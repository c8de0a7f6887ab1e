import Postgres

/// Applies the migrations that a database has not had yet, as Flyway does: in version order,
/// each in its own transaction, recorded with its SHA-256 in `keyadmin.schema_migrations`.
public struct Migrator {
    /// What a run did, or (a dry run) would do.
    public struct Outcome: Sendable {
        /// Migrations applied by this run (or that a dry run would apply), in order.
        public var applied: [Migration] = []
        /// Migrations the database had already, unchanged.
        public var alreadyApplied: [Migration] = []
        /// WARNINGs the server raised while applying (old rows that break a new constraint...).
        public var warnings: [String] = []
    }

    let connection: Connection
    let migrations: [Migration]

    /// Each try waits at most this long for a lock. An ALTER TABLE waiting for a table that a
    /// long transaction holds makes every backend's call queue behind it: better to give up at
    /// once, let the calls through, and try again.
    static let lockTimeout: Duration = .milliseconds(300)
    /// Pauses between tries; after the last, the run throws `busy`.
    public static let retryPauses: [Duration] = [
        .milliseconds(500), .seconds(1), .seconds(2), .seconds(3), .seconds(4), .seconds(5),
    ]
    let retryPauses: [Duration]

    /// A migrator for the database `connection` is on; by default it applies the migrations
    /// built into this package, retrying a busy lock after each of `retryPauses`.
    public init(
        connection: Connection, migrations: [Migration] = Migration.bundled, retryPauses: [Duration] = Self.retryPauses
    ) {
        self.connection = connection
        self.migrations = migrations
        self.retryPauses = retryPauses
    }

    /// Applies what is pending. With `dryRun`, only reports what would be applied and checks
    /// for drift; it writes nothing (not even the tracking table).
    public func run(dryRun: Bool) throws(KeyStoreError) -> Outcome {
        do {
            var outcome = Outcome()
            for migration in migrations {
                let options = TransactionOptions(readOnly: dryRun, lockTimeout: Self.lockTimeout)
                var pauses = retryPauses[...]
                let applied: Bool
                while true {
                    do {
                        applied = try connection.withTransaction(options) { transaction in
                            try apply(migration, in: transaction, dryRun: dryRun, outcome: &outcome)
                        }
                        break
                    } catch let error as PGError where error.sqlState == .lockNotAvailable {
                        guard let pause = pauses.popFirst() else {
                            throw KeyStoreError.busy(
                                "applying \(migration.fileName): a lock it needs was held by another session at every try"
                            )
                        }
                        sleep(for: pause)
                    }
                }
                if applied { outcome.applied.append(migration) } else { outcome.alreadyApplied.append(migration) }
            }
            try checkForUnknownVersions()
            return outcome
        } catch let error as KeyStoreError {
            throw error
        } catch let error as PGError {
            throw KeyStoreError.from(error)
        } catch {
            throw .database("migrating: \(error)", hint: nil)
        }
    }

    /// `true` if it was (or, in a dry run, would be) applied; `false` if it already was.
    private func apply(
        _ migration: Migration, in transaction: Transaction, dryRun: Bool, outcome: inout Outcome
    ) throws -> Bool {
        if !dryRun {
            // Serializes operators migrating at once: the second waits here, then finds the
            // migration recorded and does nothing. Released by COMMIT or ROLLBACK.
            try transaction.query(
                "SELECT pg_advisory_xact_lock(hashtextextended('keyadmin.schema_migrations', 0))",
                step: "waiting for other migrations to finish")
            try transaction.execute(
                SQLScript(trustedSQL: Self.trackingTableSQL), step: "creating keyadmin.schema_migrations")
            _ = transaction.takeNotices()
        }
        let checksum: String = try transaction.query(
            "SELECT encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex') AS checksum",
            step: "hashing \(migration.fileName)"
        ).singleRow().decode("checksum")
        if try trackingTableExists(transaction) {
            let recorded = try transaction.query(
                "SELECT checksum FROM keyadmin.schema_migrations WHERE version = \(migration.version)",
                step: "reading the applied migrations")
            if let row = recorded.rows.first {
                guard migration.accepts(recorded: try row.decode("checksum", as: String.self), checksum: checksum)
                else {
                    throw KeyStoreError.migrationDrift(fileName: migration.fileName)
                }
                return false
            }
        }
        if dryRun { return true }
        try transaction.execute(SQLScript(trustedSQL: migration.sql), step: "applying \(migration.fileName)")
        outcome.warnings += transaction.takeNotices().filter { $0.hasPrefix("WARNING") }
        try transaction.query(
            """
            INSERT INTO keyadmin.schema_migrations (version, name, checksum)
            VALUES (\(migration.version), \(migration.name), \(checksum))
            """, step: "recording \(migration.fileName)")
        return true
    }

    private func trackingTableExists(_ transaction: Transaction) throws -> Bool {
        try transaction.query(
            "SELECT to_regclass('keyadmin.schema_migrations') IS NOT NULL AS present",
            step: "reading the applied migrations"
        ).singleRow().decode("present")
    }

    private func checkForUnknownVersions() throws {
        let known = migrations.map(\.version)
        let result = try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction -> QueryResult? in
            guard try trackingTableExists(transaction) else { return nil }
            return try transaction.query(
                "SELECT version FROM keyadmin.schema_migrations WHERE NOT version = ANY(\(known)::text[]) ORDER BY version",
                step: "reading the applied migrations")
        }
        guard let result else { return }
        let unknown = try result.rows.map { try $0.decode("version", as: String.self) }
        if !unknown.isEmpty { throw KeyStoreError.unknownMigrationsApplied(unknown) }
    }

    static let trackingTableSQL = """
        CREATE SCHEMA IF NOT EXISTS keyadmin;
        CREATE TABLE IF NOT EXISTS keyadmin.schema_migrations (
            version text PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            applied_by text NOT NULL DEFAULT current_user
        );
        REVOKE ALL ON SCHEMA keyadmin FROM PUBLIC;
        REVOKE ALL ON TABLE keyadmin.schema_migrations FROM PUBLIC;
        """
}

extension KeyStore {
    /// Applies the bundled migrations this database has not had (`Migrator`); with `dryRun`,
    /// says what it would apply and changes nothing.
    public func migrate(dryRun: Bool) throws(KeyStoreError) -> Migrator.Outcome {
        try Migrator(connection: connection).run(dryRun: dryRun)
    }
}
