import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

let migrationsDirectory = repositoryRoot.appendingPathComponent("migrations")

/// Every file in migrations/, in the order they apply.
let migrationFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: migrationsDirectory.path)) ?? []
    return names.filter { $0.hasSuffix(".sql") }.sorted().map { migrationsDirectory.appendingPathComponent($0).path }
}()

let migrationFile = migrationsDirectory.appendingPathComponent("021_simplify_provider_api_keys.sql").path
let allVersions = migrationFiles.map { String(URL(fileURLWithPath: $0).lastPathComponent.prefix(3)) }

func runPsqlAll(on database: TestDatabase) throws -> (status: Int32, output: String) {
    var last: (status: Int32, output: String) = (0, "")
    for file in migrationFiles {
        last = try runPsql(file: file, on: database)
        if last.status != 0 { return last }
    }
    return last
}

@Suite struct MigrationTests {
    @Test func embeddedMigrationIsTheFileByteForByte() throws {
        #expect(Migration.bundled.map(\.fileName) == migrationFiles.map { URL(fileURLWithPath: $0).lastPathComponent })
        for (migration, file) in zip(Migration.bundled, migrationFiles) {
            #expect(migration.sql == (try String(contentsOfFile: file, encoding: .utf8)))
        }
        #expect(Migration.bundled.map(\.version) == allVersions)
        #expect(allVersions.starts(with: ["021", "022"]))
    }

    @Test func psqlTwiceThenTheToolLeavesOneSchemaAndRecordsIt() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            #expect(try runPsqlAll(on: database).status == 0)
            let store = try database.store()
            try store.addProvider(ProviderName(validating: "openai"))
            _ = try store.addKey(
                APIKey(validating: "sk-kept-across-migrations-0001"), to: ProviderName(validating: "openai"))
            let second = try runPsqlAll(on: database)
            #expect(second.status == 0, "\(second.output)")
            let outcome = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(outcome.applied.map(\.version) == allVersions)
            #expect(
                try database.values("SELECT api_key AS value FROM provider_api_keys") == [
                    "sk-kept-across-migrations-0001"
                ])
            #expect(
                try database.integer("SELECT count(*) AS value FROM keyadmin.schema_migrations") == allVersions.count)
            let again = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(again.applied.isEmpty)
            #expect(again.alreadyApplied.count == allVersions.count)
        }
    }

    /// A database that has the seed's tables already, with rows the new constraints refuse:
    /// the migration keeps every row, warns about the bad ones, and checks new rows.
    @Test func migratesASeedDatabaseWithoutTouchingItsKeys() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        CREATE TABLE providers (id serial PRIMARY KEY, provider_name text UNIQUE NOT NULL, created_at timestamptz DEFAULT now());
                        CREATE TABLE provider_api_keys (id serial PRIMARY KEY,
                            provider_id integer NOT NULL REFERENCES providers ON DELETE CASCADE,
                            key_number integer NOT NULL, api_key text NOT NULL, created_at timestamptz DEFAULT now());
                        INSERT INTO providers (provider_name) VALUES ('openai'), ('Legacy Name');
                        INSERT INTO provider_api_keys (provider_id, key_number, api_key) VALUES (1, 1, 'sk-seed-one'), (1, 7, 'sk-seed-seven');
                        """), step: "the seed's schema")
            let outcome = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(outcome.warnings.count == 2)
            #expect(outcome.warnings.first?.contains("providers_provider_name_format") == true)
            #expect(outcome.warnings.last?.contains("providers_provider_name_starts_with_letter_or_digit") == true)
            #expect(
                try database.values("SELECT api_key AS value FROM provider_api_keys ORDER BY id") == [
                    "sk-seed-one", "sk-seed-seven",
                ])
            // The migration records #7 as the highest number ever given: with #7 deleted, the
            // next key is still #8, never a second #2 or #7.
            let openai = try ProviderName(validating: "openai")
            try database.store().deleteKey(number: 7, of: openai)
            #expect(try database.store().addKey(APIKey(validating: "sk-after-migration-01"), to: openai) == 8)
            #expect(throws: PGError.self) {
                try database.connect().query(
                    "INSERT INTO providers (provider_name) VALUES ('Another Bad')", step: "bad row")
            }
        }
    }

    @Test func recordsVersionNameAndTheFilesSHA256() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let rows = try database.values(
                "SELECT version || ' ' || name || ' ' || checksum AS value FROM keyadmin.schema_migrations ORDER BY version"
            )
            let expected = try migrationFiles.map { file in
                let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
                return "\(name.prefix(3)) \(name.dropFirst(4)) \(try sha256Hex(ofFile: file))"
            }
            #expect(rows == expected)
        }
    }

    /// Every migration that has shipped, with the SHA-256 databases recorded when they applied
    /// it. A shipped file is never edited (`--migrate` would stop on every such database with
    /// "has changed since it was applied"): a change goes in the next numbered file. A new
    /// migration adds its line here when it lands.
    static let shipped: [String: String] = [
        "021_simplify_provider_api_keys.sql": "57ab70cbd39dbd62e24078557e95ed21710c3f2fccc2f9e6de09d1d241234849",
        "022_provider_names_start_with_letter_or_digit.sql":
            "92881907b0f47ba93a157aabb2cfcf1738dc23924cdf19fd4b635566b6c7b7fa",
        "023_key_lifecycle.sql": "d77d9cc4a4a329af36452a0c215b67d886b587df31cc1bd7d7a461d67b672ee1",
        "024_audit_trail.sql": "66b2ffc473aa64881bac04a10b5dbf526979ccddc64f123c7bde3287c77cb3ba",
        "025_service_role_exact_privileges.sql": "a0158dc9fae1cc4033d39d301564d6e769bbc0c760d8b6d5ae94c8f793e7f5d1",
        "026_audit_triggers_without_helper_calls.sql":
            "ffd2050110d8d28aec3ab5084f4623b2fb63bcaa06171632d782932b1f33ca94",
        "027_bounded_events_and_reason_changes.sql": "b4aa0d10d61cd0e4fb51f90e7514682fad791793f7928a6016f1735b364d96db",
        "028_selection_policy.sql": "fe5c472b461d88b513e977fbd722818177c1f8b393e0080d5cef074fa9a3a527",
        "029_provider_endpoints.sql": "0a331f1fb5457a1d2f2dc09bd1db9aa00f5a86626fe9dc57c1bc2a20216ee7bb",
        "030_picks_without_cliffs.sql": "49031ee3f0b7e316eb924e0236f2e932775ae080d0a8a8d9f24d933ae1e178a5",
        "031_same_actor_and_replacement_time.sql": "fa8169397863325d892b42c971be7d3d22b52fde255908cee253b63353394b11",
        "032_slot_moves_in_order.sql": "0c716c4af8af2a9a23d2b22bba39ab9538dddbfe4fbfecbdcb2c7c195dae5da1",
        "033_usage_and_accounts.sql": "efd0001d8f6a30e3d4cf52be7f7249acaa139fd77a97d7a994160e1d644b1f1e",
        "034_sticky_pick_in_double_precision.sql":
            "6bec9f3f60552ec953872561cacd7908d34c57ae0332c2212f7d3ba80cda253d",
        "035_slot_probes_stop_at_the_first_key.sql":
            "206d5bc79f14fd1200d4f076e83a6337bcdff8c50bdb54085a7c315843e64d66",
        "036_picks_read_no_whole_pool.sql":
            "921b87912459e9bc10460bf97370a190cda33ec17060a8fcbd22479833181b6b",
        "037_picks_read_numbers_then_the_key.sql":
            "083410e5975e870c9e730d4331ca43012888c4c3375fd07235e1fb08466e6d5e",
        "038_picks_spend_less_on_each_probe.sql":
            "13b975bf2c501f23d7ea2e71cfbe3412b2eb208a80b53580ad3f66a8ca458ae9",
        "039_picks_bounded_by_the_largest_weight.sql":
            "6db82395d82bca1116d314097c7035703f53067c78cf8a3b0945f814ccb8c635",
    ]

    @Test func shippedMigrationsAreNeverEdited() throws {
        for file in migrationFiles {
            let name = URL(fileURLWithPath: file).lastPathComponent
            let recorded = try #require(Self.shipped[name], "\(name) is not in the list of shipped migrations")
            #expect(try sha256Hex(ofFile: file) == recorded, "\(name) was edited after it shipped")
        }
    }

    @Test func twoMigratorsAtOnceApplyOnce() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let results = Locked<[Result<Migrator.Outcome, KeyStoreError>]>([])
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
            #expect(outcomes.map(\.applied.count).reduce(0, +) == allVersions.count)
            #expect(
                try database.integer("SELECT count(*) AS value FROM keyadmin.schema_migrations") == allVersions.count)
        }
    }

    @Test func driftIsReportedByNameAndStopsTheRun() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try database.connect().query(
                "UPDATE keyadmin.schema_migrations SET checksum = 'edited'", step: "simulate an edited file")
            #expect(throws: KeyStoreError.migrationDrift(fileName: "021_simplify_provider_api_keys.sql")) {
                try Migrator(connection: database.connect()).run(dryRun: false)
            }
        }
    }

    /// 037 shipped twice (its file is as it first shipped; 039 brings the edit): a database that
    /// recorded the edited text's checksum is migrated, and no other checksum is taken for it.
    @Test func theTextAMigrationAlsoShippedWithIsNotDrift() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let edited = "31ea86b6402ef983040ae2d46999d111b76dc6deca7895bf0255d33d2e945de9"
            try database.connect().query(
                "UPDATE keyadmin.schema_migrations SET checksum = \(edited) WHERE version = '037'",
                step: "stop 34's 037")
            let outcome = try Migrator(connection: database.connect()).run(dryRun: false)
            #expect(outcome.applied.isEmpty)
            try database.connect().query(
                "UPDATE keyadmin.schema_migrations SET checksum = \(edited) WHERE version = '038'",
                step: "037's text for 038")
            #expect(throws: KeyStoreError.migrationDrift(fileName: "038_picks_spend_less_on_each_probe.sql")) {
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
            #expect(outcome.applied.map(\.version) == allVersions)
            #expect(try database.values("SELECT to_regclass('public.providers')::text AS value") == [nil])
            #expect(try database.values("SELECT to_regnamespace('keyadmin')::text AS value") == [nil])
        }
    }

    @Test func commandsBeforeTheMigrationSayToRunIt() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            #expect(throws: KeyStoreError.schemaMissing) {
                try database.store().addProvider(ProviderName(validating: "openai"))
            }
            #expect(throws: KeyStoreError.schemaMissing) {
                try database.store().randomKey(of: ProviderName(validating: "openai"))
            }
        }
    }

    /// The client's name rule and the schema's constraints accept exactly the same names.
    @Test func constraintAndClientAgreeOnProviderNames() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let connection = try database.connect()
            let names = [
                "openai", "9router", "a", "a.b_c-d", "-h", "--version", ".hidden", "_x", "x y", "UPPER", "é",
                String(repeating: "n", count: 64), String(repeating: "n", count: 65), "",
            ]
            for name in names {
                let clientAccepts = (try? ProviderName(validating: name))?.rawValue == name
                let serverAccepts: Bool = try connection.withTransaction { transaction in
                    try transaction.query("SAVEPOINT probe", step: "probe")
                    do {
                        try transaction.query("INSERT INTO providers (provider_name) VALUES (\(name))", step: "probe")
                        try transaction.query("ROLLBACK TO SAVEPOINT probe", step: "probe")
                        return true
                    } catch {
                        try transaction.query("ROLLBACK TO SAVEPOINT probe", step: "probe")
                        return false
                    }
                }
                #expect(clientAccepts == serverAccepts, "\(name.debugDescription)")
            }
        }
    }
}

/// A migration that needs a table another session holds: backends keep getting keys while it
/// waits, and it either succeeds once the holder ends or reports busy.
@Suite struct MigrationLockTests {
    func migratedUpTo022(_ body: (TestDatabase) throws -> Void) throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            _ = try Migrator(connection: database.connect(), migrations: Array(Migration.bundled.prefix(2))).run(
                dryRun: false)
            let connection = try database.connect()
            try connection.query("INSERT INTO providers (provider_name) VALUES ('openai')", step: "seed")
            try connection.query(
                "INSERT INTO provider_api_keys (provider_id, key_number, api_key) SELECT 1, n, 'sk-lock-' || n FROM generate_series(1, 50) AS n",
                step: "seed")
            try body(database)
        }
    }

    /// Deterministic, whatever else the machine runs: each step waits for a state it can see
    /// (the migration's lock request in pg_locks), never for a length of time.
    @Test func backendsAreNotBlockedAndTheMigrationWaitsForTheHolder() throws {
        try migratedUpTo022 { database in
            let holder = try database.connect()
            try holder.query("BEGIN", step: "hold")
            try holder.query("SELECT count(*) FROM provider_api_keys", step: "hold")  // ACCESS SHARE until COMMIT
            let migrated = Locked<Result<Migrator.Outcome, Error>?>(nil)
            DispatchQueue.global().async {
                let outcome = Result { try Migrator(connection: database.connect()).run(dryRun: false) }
                migrated.withLock { $0 = outcome }
            }
            // The migration has asked for the table: a lock request not granted, seen in pg_locks.
            let observer = try database.connect()
            let seenWaiting = try eventually {
                try observer.query(
                    """
                    SELECT EXISTS (SELECT 1 FROM pg_locks
                                   WHERE relation = 'public.provider_api_keys'::regclass AND NOT granted) AS waiting
                    """, step: "watching the locks"
                ).singleRow().decode("waiting")
            }
            #expect(seenWaiting, "the migration never asked for the table")
            // A backend with a 1 s statement limit draws keys while the migration keeps trying: a
            // migration that waited for the lock without its own limit would queue every call
            // behind its ALTER TABLE, and the 1 s limit would fail them.
            let backend = try Connection(settings: database.settings(statementTimeout: .seconds(1)))
            for _ in 0..<40 {
                let key: String? = try backend.withTransaction(TransactionOptions(readOnly: true)) { transaction in
                    try transaction.query("SELECT get_random_api_key('openai') AS key", step: "backend").singleRow()
                        .decodeIfPresent("key")
                }
                #expect(key?.hasPrefix("sk-lock-") == true)
                usleep(25_000)
            }
            #expect(migrated.withLock { $0 == nil }, "the migration did not wait for the holder")
            try holder.query("COMMIT", step: "release")
            for _ in 0..<3_000 where migrated.withLock({ $0 == nil }) { usleep(10_000) }
            let outcome = try #require(migrated.withLock { $0 })
            #expect(try outcome.get().applied.map(\.version).contains("023"))
        }
    }

    @Test func aHolderThatNeverEndsMakesTheMigrationBusy() throws {
        try migratedUpTo022 { database in
            let holder = try database.connect()
            try holder.query("BEGIN", step: "hold")
            try holder.query("SELECT count(*) FROM provider_api_keys", step: "hold")
            #expect {
                _ = try Migrator(connection: database.connect(), retryPauses: [.milliseconds(100), .milliseconds(100)])
                    .run(dryRun: false)
            } throws: { error in
                guard case .busy = error as? KeyStoreError else { return false }
                return (error as? KeyStoreError)?.category == .busy
            }
            try holder.query("COMMIT", step: "release")
            #expect(
                try database.integer("SELECT count(*) AS value FROM keyadmin.schema_migrations WHERE version = '023'")
                    == 0)
        }
    }
}

/// Migration 025: the service role holds exactly its privileges, on projects that had granted
/// it more (legacy Supabase left TRUNCATE, REFERENCES and TRIGGER).
@Suite struct ServiceRolePrivilegeTests {
    @Test func migration025TakesBackWhatLegacyProjectsGrantedTheServiceRole() throws {
        // 025 in its own time: after 021-024, as a legacy project applied it (033 replaced the
        // report function 025 names).
        try TestDatabase.with(migrated: false, likeSupabase: true) { (database: TestDatabase) throws in
            _ = try Migrator(connection: database.connect(), migrations: Array(Migration.bundled.prefix(4))).run(
                dryRun: false)
            try database.connect().execute(
                SQLScript(
                    trustedSQL: "GRANT TRUNCATE, REFERENCES, TRIGGER ON public.provider_api_keys TO service_role"),
                step: "a legacy project's grants")
            let file = try #require(migrationFiles.first { $0.hasSuffix("025_service_role_exact_privileges.sql") })
            #expect(try runPsql(file: file, on: database).status == 0)
            #expect(
                try database.values(
                    """
                    SELECT p || ':' || has_table_privilege('service_role', 'public.provider_api_keys', p)::text AS value
                    FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p
                    """)
                    == [
                        "SELECT:true", "INSERT:true", "UPDATE:true", "DELETE:true", "TRUNCATE:false",
                        "REFERENCES:false",
                        "TRIGGER:false",
                    ])
        }
    }
}
