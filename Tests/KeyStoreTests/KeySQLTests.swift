import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// The SQL written once in Swift agrees with the schema the migrations build.
@Suite struct KeySQLTests {
    /// The hash expression must be the index's, or every "is this key stored?" reads all keys.
    @Test func keyHashIsTheUniqueIndexExpression() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.query("SET enable_seqscan = off", step: "plan")
            let plan = try connection.query(
                """
                EXPLAIN SELECT key_number FROM public.provider_api_keys
                WHERE \(KeySQL.keyHash(of: .column("api_key"))) = \(KeySQL.keyHash(of: .value("sk-some-key-0001")))
                """, step: "plan"
            ).rows.map { try $0.decode("\"QUERY PLAN\"", as: String.self) }.joined(separator: "\n")
            #expect(plan.contains("provider_api_keys_key_hash_provider_id_key"), "\(plan)")
            let hashed = try connection.query(
                "SELECT encode(\(KeySQL.keyHash(of: .value("sk-a\\b"))), 'hex') AS hash", step: "hash"
            ).singleRow().decode("hash", as: String.self)
            let bySQL = try connection.query(
                "SELECT encode(sha256(convert_to(\("sk-a\\b"), 'UTF8')), 'hex') AS hash", step: "hash"
            ).singleRow().decode("hash", as: String.self)
            #expect(hashed == bySQL, "a backslash in a key hashes as itself")
        }
    }

    @Test func constraintNamesAreTheSchemas() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            for name in [ConstraintName.keyHash, ConstraintName.providerName, ConstraintName.keyNumber] {
                let found = try database.integer(
                    """
                    SELECT count(*) AS value FROM pg_class WHERE relname = \(name) AND relkind = 'i'
                    """)
                #expect(found == 1, "\(name)")
            }
        }
    }

    @Test func highestNumberGivenCountsDeletedNumbers() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            let openai = try ProviderName(validating: "openai")
            try store.addProvider(openai)
            for index in 1...3 { _ = try store.addKey(APIKey(validating: "sk-numbered-key-000\(index)"), to: openai) }
            _ = try store.deleteKey(number: 3, of: openai)
            let highest = try database.integer(
                "SELECT \(KeySQL.highestNumberGiven) AS value FROM public.providers AS p WHERE p.provider_name = 'openai'"
            )
            #expect(highest == 3)
        }
    }
}
