/// How a check runs: which keys, how many at once, how long each may take.
public struct CheckOptions: Sendable, Equatable {
    /// Only this key number.
    public var only: Int?
    /// Also probe keys disabled after a 401, 402 or 403, and enable those that answer 2xx.
    public var revive = false
    /// Requests at once.
    public var concurrency = CheckOptions.defaultConcurrency
    /// The longest one request may take, connection included.
    public var timeout = CheckOptions.defaultTimeout
    /// Record refusals even when every key is refused (see `RefusalGuard`): `--force`.
    public var recordEveryRefusal = false
    /// The certificate authorities to trust instead of the system's (`SSL_CERT_FILE`).
    public var caFile: String?

    /// 16 at a time, 10 seconds each.
    public static let defaultConcurrency = 16
    /// The longest a request may take unless told otherwise.
    public static let defaultTimeout = Duration.seconds(10)
    /// The most requests at once: a provider sees them all come from one address.
    public static let concurrencyRange = 1...256

    /// The defaults.
    public init() {}

    /// `timeout` in whole milliseconds, as libcurl takes it and the heading shows it.
    public var timeoutMilliseconds: Int { timeout.wholeMillisecondsForCurl }
}

extension Duration {
    /// Whole milliseconds, rounded down. (The Postgres layer has its own, for libpq: KeyCheck
    /// does not depend on it for one line of arithmetic.)
    var wholeMillisecondsForCurl: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
