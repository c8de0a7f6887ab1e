import KeyStore
import Postgres

/// The promises the schema makes, checked on a live database: TLS, migrations, Row Level
/// Security, privileges as PostgreSQL resolves them, indirect exposure through functions and
/// views, the public functions, server logging, and the health of every pool. Reads only.
public struct Doctor {
    let store: KeyStore
    var connection: Connection { store.connection }

    /// A doctor for the database `store` is connected to.
    public init(store: KeyStore) { self.store = store }

    /// The roles of Supabase's REST API, and PUBLIC, which every role is a member of.
    static let exposedRoles = ["public", "anon", "authenticated"]
    static let keyTables = ["public.providers", "public.provider_api_keys"]
    static let functions = [
        "public.get_api_key(text, integer)", "public.get_random_api_key(text)", "public.get_sticky_api_key(text, text)",
        "public.report_api_key_result(text, text, integer, integer, integer, text)",
    ]

    /// Runs every check, in a fixed order; a check that cannot run is a finding, unless what
    /// stopped it was a time limit (`--statement-timeout`, `--lock-timeout`): that throws
    /// `timedOut` or `busy`, one error for the whole run, as every other command gives.
    public func run() throws(KeyStoreError) -> [DoctorFinding] {
        var findings = transport()
        findings += try checked("schema", schema)
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
                    fix: .applyMigrations)
            ]
        }
        // Read once for the two checks that need it; a failure shows in both.
        let exposed = Result { try exposedRolesPresent() }
        for (name, check) in [
            ("row level security", rowLevelSecurity), ("privileges", { try privileges(exposed: exposed.get()) }),
            ("readers", readers), ("indirect exposure", { try indirectExposure(exposed: exposed.get()) }),
            ("functions", functionShapes), ("server logging", serverLogging), ("pool health", poolHealth),
            ("endpoints", endpoints), ("key slots", keySlots),
        ] as [(String, () throws -> [DoctorFinding])] {
            findings += try checked(name, check)
        }
        return findings
    }

    /// A check that could not run is a finding too, never a crash.
    private func checked(
        _ name: String, _ check: () throws -> [DoctorFinding]
    ) throws(KeyStoreError) -> [DoctorFinding] {
        do {
            return try check()
        } catch let error as KeyStoreError {
            if error.category == .busy { throw error }
            return [DoctorFinding(name, .fail, "database", error.message, fix: error.advice.map(DoctorFix.advice))]
        } catch let error as PGError {
            // The store's own reading of the error: a time limit or a held lock ends the run.
            let translated = KeyStoreError.from(error)
            if translated.category == .busy { throw translated }
            return [DoctorFinding(name, .fail, "database", "could not check: \(error.message)")]
        } catch {
            return [DoctorFinding(name, .fail, "database", "could not check: \(error)")]
        }
    }

    func rows(_ query: Query, step: String) throws -> [Row] {
        try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
            try transaction.query(query, step: step).rows
        }
    }

    /// An identifier in double quotes when it needs them, for the fixes shown.
    func quoteIdentifier(_ name: String) -> String {
        let plain = name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        return plain
            ? name
            : "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
