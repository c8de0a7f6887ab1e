import Postgres

/// Providers and their keys: every operation is one transaction (or one autocommit statement)
/// through the Postgres layer, with every value a bound parameter.
public final class KeyStore {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Connects, turning connection problems into operator-facing errors.
    public static func connect(_ settings: ConnectionSettings) throws(KeyStoreError) -> KeyStore {
        do {
            return KeyStore(connection: try Connection(settings: settings))
        } catch let error as PostgresError {
            throw KeyStoreError.from(error)
        } catch {
            throw .connection("connecting: \(error)", hint: nil)
        }
    }

    // MARK: - Providers

    public func addProvider(_ name: ProviderName) throws(KeyStoreError) {
        try translatingErrors(provider: name) {
            let inserted = try connection.withTransaction { transaction in
                try transaction.query("""
                    INSERT INTO public.providers (provider_name) VALUES (\(name.rawValue))
                    ON CONFLICT (provider_name) DO NOTHING
                    """, step: "adding provider \(name)").affectedRowCount
            }
            if inserted == 0 { throw KeyStoreError.providerExists(name) }
        }
    }

    /// How many keys the provider has, or `nil` if there is no such provider.
    public func keyCount(of name: ProviderName) throws(KeyStoreError) -> Int? {
        try translatingErrors(provider: name) {
            try connection.query("""
                SELECT (SELECT count(*) FROM public.provider_api_keys AS k WHERE k.provider_id = p.id) AS key_count
                FROM public.providers AS p WHERE p.provider_name = \(name.rawValue)
                """, step: "counting the keys of \(name)").rows.first?.decode("key_count")
        }
    }

    /// Deletes the provider and, through ON DELETE CASCADE, its keys; returns how many keys went.
    public func deleteProvider(_ name: ProviderName) throws(KeyStoreError) -> Int {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                let keys: Int = try transaction.query(
                    "SELECT count(*) AS key_count FROM public.provider_api_keys WHERE provider_id = \(provider)",
                    step: "counting the keys of \(name)").singleRow(step: "counting the keys of \(name)").decode("key_count")
                try transaction.query("DELETE FROM public.providers WHERE id = \(provider)", step: "deleting provider \(name)")
                return keys
            }
        }
    }

    // MARK: - Keys

    /// Stores the key under the provider's highest number plus one; returns that number.
    public func addKey(_ key: APIKey, to name: ProviderName) throws(KeyStoreError) -> Int {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                // A new statement after the lock: in READ COMMITTED it sees every key committed
                // by whoever held the lock before. The number is above both the highest key
                // stored and the highest ever given (last_key_number), so a deleted number is
                // never given to another key.
                let inserted = try transaction.query("""
                    WITH next AS (
                        SELECT greatest(p.last_key_number, coalesce(
                                   (SELECT max(k.key_number) FROM public.provider_api_keys AS k WHERE k.provider_id = p.id), 0)
                               ) + 1 AS key_number
                        FROM public.providers AS p
                        WHERE p.id = \(provider)
                    ),
                    inserted AS (
                        INSERT INTO public.provider_api_keys (provider_id, key_number, api_key)
                        SELECT \(provider), next.key_number, \(key.revealed) FROM next
                        ON CONFLICT (sha256(decode(replace(api_key, E'\\\\', E'\\\\\\\\'), 'escape')), provider_id) DO NOTHING
                        RETURNING key_number
                    )
                    UPDATE public.providers AS p SET last_key_number = inserted.key_number
                    FROM inserted
                    WHERE p.id = \(provider)
                    RETURNING inserted.key_number
                    """, step: "adding a key to \(name)")
                if let row = inserted.rows.first { return try row.decode("key_number") }
                throw KeyStoreError.keyAlreadyStored(name, asNumber: try numberOf(key, provider: provider, in: transaction))
            }
        }
    }

    public enum UpdateOutcome: Sendable, Equatable { case replaced, unchanged }

    public func updateKey(number: Int, of name: ProviderName, to key: APIKey) throws(KeyStoreError) -> UpdateOutcome {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                if let existing = try numberOf(key, provider: provider, in: transaction) {
                    if existing == number { return .unchanged }
                    throw KeyStoreError.keyAlreadyStored(name, asNumber: existing)
                }
                let updated = try transaction.query("""
                    UPDATE public.provider_api_keys SET api_key = \(key.revealed)
                    WHERE provider_id = \(provider) AND key_number = \(number)
                    """, step: "replacing key #\(number) of \(name)").affectedRowCount
                if updated == 0 { throw KeyStoreError.keyNotFound(name, number: number) }
                return .replaced
            }
        }
    }

    public func deleteKey(number: Int, of name: ProviderName) throws(KeyStoreError) {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                let deleted = try transaction.query(
                    "DELETE FROM public.provider_api_keys WHERE provider_id = \(provider) AND key_number = \(number)",
                    step: "deleting key #\(number) of \(name)").affectedRowCount
                if deleted == 0 { throw KeyStoreError.keyNotFound(name, number: number) }
            }
        }
    }

    /// Key `number`, through the public `get_api_key` function backends call: one round trip.
    public func key(number: Int, of name: ProviderName) throws(KeyStoreError) -> APIKey {
        try translatingErrors(provider: name) {
            let row = try connection.query(
                "SELECT public.get_api_key(\(name.rawValue), \(number)) AS api_key", step: "reading key #\(number) of \(name)"
            ).singleRow(step: "reading key #\(number) of \(name)")
            if let key: String = try row.decodeIfPresent("api_key") { return APIKey(checked: key) }
            try requireProvider(name)
            throw KeyStoreError.keyNotFound(name, number: number)
        }
    }

    /// A uniformly random key, through the public `get_random_api_key` function.
    public func randomKey(of name: ProviderName) throws(KeyStoreError) -> APIKey {
        try translatingErrors(provider: name) {
            let row = try connection.query(
                "SELECT public.get_random_api_key(\(name.rawValue)) AS api_key", step: "drawing a key of \(name)"
            ).singleRow(step: "drawing a key of \(name)")
            if let key: String = try row.decodeIfPresent("api_key") { return APIKey(checked: key) }
            try requireProvider(name)
            throw KeyStoreError.invalidInput("provider \"\(name)\" has no keys", hint: "add one with keyadmin --add-key \(name) -")
        }
    }

    // MARK: - Shared steps

    /// The provider's id, with its row locked until the transaction ends. Every change to a
    /// provider's keys takes this lock first, so concurrent operators queue here (for at most
    /// lock_timeout) instead of racing for the same key number.
    func lockProvider(_ name: ProviderName, in transaction: Transaction) throws -> Int {
        let result = try transaction.query(
            "SELECT id FROM public.providers WHERE provider_name = \(name.rawValue) FOR UPDATE",
            step: "locking provider \(name)")
        guard let row = result.rows.first else { throw KeyStoreError.providerNotFound(name) }
        return try row.decode("id")
    }

    /// The highest number the provider has given: its highest key, or a higher one that was
    /// deleted since. Call it after `lockProvider`, in a statement of its own.
    func highestNumberGiven(provider: Int, in transaction: Transaction) throws -> Int {
        try transaction.query("""
            SELECT greatest(p.last_key_number, coalesce(
                       (SELECT max(k.key_number) FROM public.provider_api_keys AS k WHERE k.provider_id = p.id), 0)
                   ) AS highest
            FROM public.providers AS p WHERE p.id = \(provider)
            """, step: "reading the highest key number").singleRow(step: "reading the highest key number").decode("highest")
    }

    /// The number under which this exact key is stored for the provider, if it is. Looks it up
    /// by the same hash the unique index is built on, so the lookup is an index probe ("+ 0"
    /// keeps the planner off the provider_id index, see BulkLoader).
    func numberOf(_ key: APIKey, provider: Int, in transaction: Transaction) throws -> Int? {
        try transaction.query("""
            SELECT key_number FROM public.provider_api_keys
            WHERE sha256(decode(replace(api_key, E'\\\\', E'\\\\\\\\'), 'escape')) = sha256(decode(replace(\(key.revealed), E'\\\\', E'\\\\\\\\'), 'escape'))
              AND provider_id + 0 = \(provider)
            """, step: "looking for the key").rows.first?.decode("key_number")
    }

    func requireProvider(_ name: ProviderName) throws {
        let found = try connection.query(
            "SELECT 1 AS found FROM public.providers WHERE provider_name = \(name.rawValue)", step: "looking up provider \(name)")
        if found.rowCount == 0 { throw KeyStoreError.providerNotFound(name) }
    }

    func translatingErrors<T>(provider: ProviderName? = nil, _ body: () throws -> T) throws(KeyStoreError) -> T {
        do {
            return try body()
        } catch let error as KeyStoreError {
            throw error
        } catch let error as PostgresError {
            throw KeyStoreError.from(error, provider: provider)
        } catch {
            throw .database("\(error)", hint: nil)
        }
    }
}
