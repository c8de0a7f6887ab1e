import Postgres

extension KeyStore {
    /// Connects to the database at `connectionString` (a libpq URI or key=value string; empty
    /// means libpq's PG* variables and defaults), for a program that draws and reports keys.
    public static func connect(
        to connectionString: String, statementTimeout: Duration = .seconds(60), lockTimeout: Duration = .seconds(5),
        applicationName: String = "keyadmin", actor: OperatorText? = nil
    ) throws(KeyStoreError) -> KeyStore {
        try connect(
            ConnectionSettings(
                connectionString: connectionString, statementTimeout: statementTimeout, lockTimeout: lockTimeout,
                applicationName: applicationName),
            actor: actor)
    }

    /// Records what a backend saw when it used `key` (`report_api_key_result`, one statement):
    /// 2xx clears the key's failures, 401/402/403 disable it automatically, 429 cools it down
    /// for `retryAfterSeconds` (or a backoff), 408 and 5xx count as failures. Returns the key's
    /// state afterwards, or `nil` when the key is not in the provider's pool.
    public func reportResult(
        of key: APIKey, for name: ProviderName, httpStatus: Int, retryAfterSeconds: Int? = nil
    ) throws(KeyStoreError) -> KeyState? {
        try translatingErrors(provider: name) {
            let row = try connection.query(
                """
                SELECT public.report_api_key_result(\(name.rawValue), \(key.revealed), \(httpStatus)::integer,
                                                    \(retryAfterSeconds)::integer) AS state
                """, step: "reporting a result for a key of \(name)"
            ).singleRow()
            return try row.decodeIfPresent("state", as: String.self).flatMap(KeyState.init(rawValue:))
        }
    }
}
