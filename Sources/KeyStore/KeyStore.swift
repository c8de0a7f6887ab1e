import Postgres

/// Providers and their keys: every operation is one transaction (or one autocommit statement)
/// through the Postgres layer, with every value a bound parameter.
public final class KeyStore {
    /// The session every operation runs on, one transaction at a time.
    public let connection: Connection

    /// A store over a connection made elsewhere (see `connect(_:located:actor:)` for the usual way).
    public init(connection: Connection) {
        self.connection = connection
    }

    /// "host:port/database", for messages; never a password.
    public var target: String { connection.target }

    /// Connects, turning connection problems into errors an operator can act on.
    ///
    /// - Parameters:
    ///   - settings: where and how to connect, with time limits.
    ///   - located: where the connection string came from, so that "nothing configured" can be
    ///     told apart from a server that is down.
    ///   - actor: who makes the changes, for the audit trail. It is set in every transaction
    ///     (never in the session), so it holds through a transaction-mode pooler too.
    public static func connect(
        _ settings: ConnectionSettings, located: DatabaseLocator.Located? = nil, actor: OperatorText? = nil
    ) throws(KeyStoreError) -> KeyStore {
        var settings = settings
        if let actor { settings.transactionSettings.append((actorSetting, actor.rawValue)) }
        // An API key given as the user or database name is masked wherever the target is shown.
        settings.concealsName = KeyShape.looksLikeKey
        do {
            return KeyStore(connection: try Connection(settings: settings))
        } catch let error as PGError {
            if located?.isUnconfigured == true, error.kind == .connectionFailed {
                throw KeyStoreError.noDatabaseConfigured
            }
            throw KeyStoreError.from(error)
        } catch {
            throw .connection("connecting: \(error)", hint: nil)
        }
    }

    /// The setting the audit trail's triggers read the actor from (keyadmin.event_actor()).
    static let actorSetting = "keyadmin.actor"

    // MARK: - Providers

    /// Adds a provider with no keys; `providerExists` if it is there already.
    public func addProvider(_ name: ProviderName) throws(KeyStoreError) {
        try translatingErrors(provider: name) {
            let inserted = try connection.withTransaction { transaction in
                try transaction.query(
                    """
                    INSERT INTO public.providers (provider_name) VALUES (\(name.rawValue))
                    ON CONFLICT (provider_name) DO NOTHING
                    """, step: "adding provider \(name)"
                ).affectedRowCount
            }
            if inserted == 0 { throw KeyStoreError.providerExists(name) }
        }
    }

    /// How many keys the provider has, or `nil` if there is no such provider.
    public func keyCount(of name: ProviderName) throws(KeyStoreError) -> Int? {
        try translatingErrors(provider: name) {
            try connection.query(
                """
                SELECT (SELECT count(*) FROM public.provider_api_keys AS k WHERE k.provider_id = p.id) AS key_count
                FROM public.providers AS p WHERE p.provider_name = \(name.rawValue)
                """, step: "counting the keys of \(name)"
            ).rows.first?.decode("key_count")
        }
    }

    /// Deletes the provider and, through ON DELETE CASCADE, its keys; returns how many keys went.
    public func deleteProvider(_ name: ProviderName) throws(KeyStoreError) -> Int {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                let keys: Int = try transaction.query(
                    "SELECT count(*) AS key_count FROM public.provider_api_keys WHERE provider_id = \(provider)",
                    step: "counting the keys of \(name)"
                ).singleRow().decode("key_count")
                try transaction.query(
                    "DELETE FROM public.providers WHERE id = \(provider)", step: "deleting provider \(name)")
                return keys
            }
        }
    }

    // MARK: - Keys

    /// Stores the key and returns its number: `number` when given (it must be free: a deleted
    /// key can be put back where backends expect it), else the provider's highest number plus one.
    public func addKey(
        _ key: APIKey, to name: ProviderName, number: Int? = nil, options: NewKeyOptions = NewKeyOptions()
    ) throws(KeyStoreError) -> Int {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                // A new statement after the lock: in READ COMMITTED it sees every key committed
                // by whoever held the lock before.
                let inserted = try transaction.query(
                    """
                    WITH chosen AS (
                        SELECT coalesce(\(number)::integer, \(KeySQL.highestNumberGiven) + 1) AS key_number
                        FROM public.providers AS p
                        WHERE p.id = \(provider)
                    ),
                    inserted AS (
                        INSERT INTO public.provider_api_keys
                            (provider_id, key_number, api_key, label, expires_at, tier, weight, account)
                        SELECT \(provider), chosen.key_number, \(key.revealed), \(options.label?.rawValue),
                               \(options.expiry?.timestamp)::timestamptz,
                               \((options.tier ?? .primary).rawValue)::smallint, \((options.weight ?? .standard).rawValue),
                               \(options.account?.rawValue)::text
                        FROM chosen
                        ON CONFLICT DO NOTHING
                        RETURNING key_number
                    )
                    UPDATE public.providers AS p SET last_key_number = greatest(p.last_key_number, inserted.key_number)
                    FROM inserted
                    WHERE p.id = \(provider)
                    RETURNING inserted.key_number
                    """, step: "adding a key to \(name)")
                if let row = inserted.rows.first { return try row.decode("key_number") }
                // Either the key is stored already (the hash index) or the number is taken.
                if let existing = try numberOf(key, provider: provider, in: transaction) {
                    throw KeyStoreError.keyAlreadyStored(name, asNumber: existing)
                }
                throw KeyStoreError.keyNumberTaken(name, number: number ?? 0)
            }
        }
    }

    /// Whether an update stored a new key or found that key already under the number.
    public enum UpdateOutcome: Sendable, Equatable { case replaced, unchanged }

    /// Replaces key `number` with `key`, which starts available with no expiry or failures (the label
    /// stays). Refuses a key stored under another number.
    public func updateKey(number: Int, of name: ProviderName, to key: APIKey) throws(KeyStoreError) -> UpdateOutcome {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                if let existing = try numberOf(key, provider: provider, in: transaction) {
                    if existing == number { return .unchanged }
                    throw KeyStoreError.keyAlreadyStored(name, asNumber: existing)
                }
                // A new key under the same number starts available: the old key's health, expiry
                // and failures were the old key's. The label is the operator's, and stays.
                let updated = try transaction.query(
                    """
                    UPDATE public.provider_api_keys
                    SET api_key = \(key.revealed), disabled_at = NULL, disabled_automatically = false,
                        disabled_reason = NULL, disabled_by = NULL, cooldown_until = '-infinity', exhausted_until = NULL,
                        expires_at = NULL,
                        consecutive_failures = 0, last_status = NULL, last_reported_at = NULL
                    WHERE provider_id = \(provider) AND key_number = \(number)
                    """, step: "replacing key #\(number) of \(name)"
                ).affectedRowCount
                if updated == 0 { throw KeyStoreError.keyNotFound(name, number: number) }
                return .replaced
            }
        }
    }

    /// Deletes key `number` and returns it (to show it masked). With `expected`, deletes only
    /// if the number still holds that key: what the operator confirmed is what goes.
    @discardableResult
    public func deleteKey(number: Int, of name: ProviderName, expected: APIKey? = nil) throws(KeyStoreError) -> APIKey {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                let deleted = try transaction.query(
                    """
                    DELETE FROM public.provider_api_keys
                    WHERE provider_id = \(provider) AND key_number = \(number)
                      AND (\(expected?.revealed)::text IS NULL OR api_key = \(expected?.revealed))
                    RETURNING api_key
                    """, step: "deleting key #\(number) of \(name)")
                guard let row = deleted.rows.first else {
                    if expected != nil, try storedKey(number: number, provider: provider, in: transaction) != nil {
                        throw KeyStoreError.keyChanged(name, number: number)
                    }
                    throw KeyStoreError.keyNotFound(name, number: number)
                }
                return APIKey(checked: try row.decode("api_key"))
            }
        }
    }

    /// Key `number` as stored, whatever its state: for showing it (masked) before a change.
    public func storedKey(number: Int, of name: ProviderName) throws(KeyStoreError) -> APIKey {
        try translatingErrors(provider: name) {
            try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
                let result = try transaction.query(
                    """
                    SELECT k.api_key FROM public.provider_api_keys AS k
                    JOIN public.providers AS p ON p.id = k.provider_id
                    WHERE p.provider_name = \(name.rawValue) AND k.key_number = \(number)
                    """, step: "reading key #\(number) of \(name)")
                if let row = result.rows.first { return APIKey(checked: try row.decode("api_key")) }
                try requireProvider(name)
                throw KeyStoreError.keyNotFound(name, number: number)
            }
        }
    }

    /// Key `number`, through the public `get_api_key` function backends call: one round trip.
    /// When it gives nothing, a second statement says why: no such provider or key, or a key
    /// that is disabled or expired.
    public func key(number: Int, of name: ProviderName) throws(KeyStoreError) -> APIKey {
        try translatingErrors(provider: name) {
            let row = try connection.query(
                "SELECT public.get_api_key(\(name.rawValue), \(number)) AS api_key",
                step: "reading key #\(number) of \(name)"
            ).singleRow()
            if let key: String = try row.decodeIfPresent("api_key") { return APIKey(checked: key) }
            let stored = try connection.query(
                """
                SELECT \(KeySQL.state) AS state, floor(extract(epoch FROM coalesce(k.disabled_at, k.expires_at)))::bigint AS since,
                       k.disabled_reason, k.disabled_by, k.disabled_automatically
                FROM public.provider_api_keys AS k
                JOIN public.providers AS p ON p.id = k.provider_id
                WHERE p.provider_name = \(name.rawValue) AND k.key_number = \(number)
                """, step: "reading the state of key #\(number) of \(name)")
            guard let key = stored.rows.first else {
                try requireProvider(name)
                throw KeyStoreError.keyNotFound(name, number: number)
            }
            let state = KeyState(rawValue: try key.decode("state")) ?? .disabled
            throw KeyStoreError.keyUnusable(
                name, number: number,
                UnusableKey(
                    state: state, since: UTCTime(secondsSinceEpoch: Int64(try key.decodeIfPresent("since") ?? 0)),
                    reason: try key.decodeIfPresent("disabled_reason"),
                    disabledBy: try key.decodeIfPresent("disabled_by"),
                    disabledAutomatically: try key.decode("disabled_automatically")))
        }
    }

    /// An available key from the lowest tier that has one, in proportion to weight, through the
    /// public `get_random_api_key` function
    /// (which gives the key whose cooldown ends first when none is available). When it gives
    /// nothing, a second statement says why: an empty pool, or keys all disabled or expired.
    public func randomKey(of name: ProviderName) throws(KeyStoreError) -> APIKey {
        try drawKey(of: name).key
    }

    /// A key drawn as backends draw it: `get_sticky_api_key` for an affinity, else
    /// `get_random_api_key`, and, in the same statement, what rests it when the pick had to give a
    /// resting key (none was available: the degrade rule gives the one whose rest ends first).
    public func drawKey(of name: ProviderName, affinity: String? = nil) throws(KeyStoreError) -> DrawnKey {
        let pick: SQLFragment =
            if let affinity {
                "public.get_sticky_api_key(\(name.rawValue), \(affinity))"
            } else {
                "public.get_random_api_key(\(name.rawValue))"
            }
        return try translatingErrors(provider: name) {
            let row = try connection.query(
                """
                SELECT d.api_key,
                       CASE \(KeySQL.state)
                           WHEN 'exhausted' THEN format('exhausted until %s %s (%sZ)',
                               to_char(k.exhausted_until AT TIME ZONE \(KeySQL.resetZone), 'HH24:MI'), \(KeySQL.resetZone),
                               to_char(k.exhausted_until AT TIME ZONE 'UTC', 'HH24:MI'))
                           WHEN 'cooling_down' THEN 'cooling down until ' || \(KeySQL.utc("k.cooldown_until"))
                       END AS rest
                FROM (SELECT \(pick) AS api_key) AS d
                LEFT JOIN public.providers AS p ON p.provider_name = \(name.rawValue)
                LEFT JOIN public.provider_api_keys AS k
                  ON \(KeySQL.keyHash(of: .column("k.api_key"))) = \(KeySQL.keyHash(of: .column("d.api_key")))
                 AND k.provider_id + 0 = p.id
                """, step: affinity == nil ? "drawing a key of \(name)" : "drawing a key of \(name) for an affinity"
            ).singleRow()
            guard let key: String = try row.decodeIfPresent("api_key") else { throw try whyNoKeyIsAvailable(name) }
            return DrawnKey(key: APIKey(checked: key), rest: try row.decodeIfPresent("rest"))
        }
    }

    /// Why a pick of `name` gave nothing: no such provider, an empty pool, or keys that are all
    /// disabled or expired (counted). One statement, on the failure path only.
    func whyNoKeyIsAvailable(_ name: ProviderName) throws -> KeyStoreError {
        let counts = try connection.query(
            """
            SELECT count(k.id) FILTER (WHERE \(KeySQL.state) = 'disabled')::integer AS disabled,
                   count(k.id) FILTER (WHERE \(KeySQL.state) = 'expired')::integer AS expired
            FROM public.providers AS p
            LEFT JOIN public.provider_api_keys AS k ON k.provider_id = p.id
            WHERE p.provider_name = \(name.rawValue)
            GROUP BY p.id
            """, step: "counting the keys of \(name)")
        guard let found = counts.rows.first else { return .providerNotFound(name) }
        let disabled: Int = try found.decode("disabled")
        let expired: Int = try found.decode("expired")
        return disabled + expired == 0 ? .noKeys(name) : .noUsableKey(name, disabled: disabled, expired: expired)
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

    /// The highest number the provider has given. Call it after `lockProvider`, in a statement
    /// of its own.
    func highestNumberGiven(provider: Int, in transaction: Transaction) throws -> Int {
        try transaction.query(
            "SELECT \(KeySQL.highestNumberGiven) AS highest FROM public.providers AS p WHERE p.id = \(provider)",
            step: "reading the highest key number"
        ).singleRow().decode("highest")
    }

    /// The number under which this exact key is stored for the provider, if it is. Looks it up
    /// by the same hash the unique index is built on, so the lookup is an index probe ("+ 0"
    /// keeps the planner off the provider_id index, see BulkLoader).
    func numberOf(_ key: APIKey, provider: Int, in transaction: Transaction) throws -> Int? {
        try transaction.query(
            """
            SELECT key_number FROM public.provider_api_keys
            WHERE \(KeySQL.keyHash(of: .column("api_key"))) = \(KeySQL.keyHash(of: .value(key.revealed)))
              AND provider_id + 0 = \(provider)
            """, step: "looking for the key"
        ).rows.first?.decode("key_number")
    }

    func storedKey(number: Int, provider: Int, in transaction: Transaction) throws -> APIKey? {
        try transaction.query(
            "SELECT api_key FROM public.provider_api_keys WHERE provider_id = \(provider) AND key_number = \(number)",
            step: "reading key #\(number)"
        ).rows.first.map { APIKey(checked: try $0.decode("api_key")) }
    }

    func requireProvider(_ name: ProviderName) throws {
        let found = try connection.query(
            "SELECT 1 AS found FROM public.providers WHERE provider_name = \(name.rawValue)",
            step: "looking up provider \(name)")
        if found.rowCount == 0 { throw KeyStoreError.providerNotFound(name) }
    }

    func translatingErrors<T>(provider: ProviderName? = nil, _ body: () throws -> T) throws(KeyStoreError) -> T {
        do {
            return try body()
        } catch let error as KeyStoreError {
            throw error
        } catch let error as PGError {
            throw KeyStoreError.from(error, provider: provider)
        } catch {
            throw .database("\(error)", hint: nil)
        }
    }
}
