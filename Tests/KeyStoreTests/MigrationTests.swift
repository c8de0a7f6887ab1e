import Foundation
@testable import KeyStore
import Postgres
import Testing
import TestSupport

/// psql, run as a DBA would: the file from migrations/, ON_ERROR_STOP, one transaction.
func runPsql(file: String, on database: TestDatabase) throws -> (status: Int32, output: String) {
    try runTool(["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", file, database.connectionString])
}

let migrationFile = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("migrations/021_simplify_provider_api_keys.sql").path

@Suite struct MigrationTests {
    @Test func embeddedMigrationIsTheFileByteForByte() throws {
        let file = try String(contentsOfFile: migrationFile, encoding: .utf8)
        #expect(Migration.bundled.map(\.fileName) == ["021_simplify_provider_api_keys.sql"])
        #expect(Migration.bundled.first?.sql == file)
        #expect(Migration.bundled.first?.version == "021")
    }

    @Test func psqlTwiceThenTheToolLeavesOneSchemaAndRecordsIt() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            #expect(try runPsql(file: migrationFile, on: database).status == 0)
            let store = try database.store()
            try store.addProvider(ProviderName(validating: "openai"))
            _ = try store.addKey(APIKey(validating: "sk-kept-across-migrations-0001"), to: ProviderName(validating: "openai"))
            let second = try runPsql(file: migrationFile, on: database)
            #expect(second.status == 0, "\(second.output)")
            let outcome = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(outcome.applied.map(\.version) == ["021"])
            #expect(try database.values("SELECT api_key AS value FROM provider_api_keys") == ["sk-kept-across-migrations-0001"])
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.schema_migrations") == 1)
            let again = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(again.applied.isEmpty)
            #expect(again.alreadyApplied.count == 1)
        }
    }

    /// A database that has the seed's tables already, with rows the new constraints refuse:
    /// the migration keeps every row, warns about the bad ones, and checks new rows.
    @Test func migratesASeedDatabaseWithoutTouchingItsKeys() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            try database.connect().execute(SQLScript(trustedSQL: """
                CREATE TABLE providers (id serial PRIMARY KEY, provider_name text UNIQUE NOT NULL, created_at timestamptz DEFAULT now());
                CREATE TABLE provider_api_keys (id serial PRIMARY KEY,
                    provider_id integer NOT NULL REFERENCES providers ON DELETE CASCADE,
                    key_number integer NOT NULL, api_key text NOT NULL, created_at timestamptz DEFAULT now());
                INSERT INTO providers (provider_name) VALUES ('openai'), ('Legacy Name');
                INSERT INTO provider_api_keys (provider_id, key_number, api_key) VALUES (1, 1, 'sk-seed-one'), (1, 7, 'sk-seed-seven');
                """), step: "the seed's schema")
            let outcome = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(outcome.warnings.count == 1)
            #expect(outcome.warnings.first?.contains("providers_provider_name_format") == true)
            #expect(try database.values("SELECT api_key AS value FROM provider_api_keys ORDER BY id") == ["sk-seed-one", "sk-seed-seven"])
            #expect(try database.store().addKey(APIKey(validating: "sk-after-migration-01"), to: ProviderName(validating: "openai")) == 8)
            #expect(throws: PostgresError.self) {
                try database.connect().query("INSERT INTO providers (provider_name) VALUES ('Another Bad')", step: "bad row")
            }
        }
    }

    @Test func recordsVersionNameAndTheFilesSHA256() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let row = try database.values("SELECT version || ' ' || name || ' ' || checksum AS value FROM keyadmin.schema_migrations")
            let expected = try sha256Hex(ofFile: migrationFile)
            #expect(row == ["021 simplify_provider_api_keys \(expected)"])
        }
    }

    @Test func twoMigratorsAtOnceApplyOnce() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let results = Mutex<[Result<Migrator.Outcome, KeyStoreError>]>([])
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                let result: Result<Migrator.Outcome, KeyStoreError>
                do {
                    result = .success(try Migrator(connection: database.connect()).run(dryRun: false))
                } catch let error as KeyStoreError {
                    result = .failure(error)
                } catch {
                    result = .failure(.database("\(error)", hint: nil))
                }
                results.withLock { $0.append(result) }
            }
            let outcomes = try results.withLock { try $0.map { try $0.get() } }
            #expect(outcomes.map(\.applied.count).reduce(0, +) == 1)
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.schema_migrations") == 1)
        }
    }

    @Test func driftIsReportedByNameAndStopsTheRun() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try database.connect().query("UPDATE keyadmin.schema_migrations SET checksum = 'edited'", step: "simulate an edited file")
            #expect(throws: KeyStoreError.migrationDrift(fileName: "021_simplify_provider_api_keys.sql")) {
                try Migrator(connection: database.connect()).run(dryRun: false)
            }
        }
    }

    /// A newer keyadmin applied a migration this one does not have: say so, rather than run
    /// against a schema it does not know.
    @Test func migrationsThisBinaryDoesNotKnowAreReported() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try database.connect().query(
                "INSERT INTO keyadmin.schema_migrations (version, name, checksum) VALUES ('999', 'from_the_future', 'x')",
                step: "a newer tool's migration")
            #expect(throws: KeyStoreError.unknownMigrationsApplied(["999"])) {
                try Migrator(connection: database.connect()).run(dryRun: false)
            }
        }
    }

    @Test func dryRunListsWhatWouldRunAndWritesNothing() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let outcome = try Migrator(connection: database.connect()).run(dryRun: true)
            #expect(outcome.applied.map(\.version) == ["021"])
            #expect(try database.values("SELECT to_regclass('public.providers')::text AS value") == [nil])
            #expect(try database.values("SELECT to_regnamespace('keyadmin')::text AS value") == [nil])
        }
    }

    @Test func commandsBeforeTheMigrationSayToRunIt() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            #expect(throws: KeyStoreError.schemaMissing) { try database.store().addProvider(ProviderName(validating: "openai")) }
            #expect(throws: KeyStoreError.schemaMissing) { try database.store().randomKey(of: ProviderName(validating: "openai")) }
        }
    }
}

func sha256Hex(ofFile path: String) throws -> String {
    String(try runTool(["sha256sum", path]).output.prefix(64))
}
