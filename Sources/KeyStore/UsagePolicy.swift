import Postgres

/// A provider's daily budget for each of its accounts (migration 033): when an account's
/// requests (all but 429s) or tokens of the provider's day reach it, its keys rest until the
/// reset. `nil`: no budget of that kind.
public struct DailyQuota: Sendable, Equatable {
    /// Requests (all but 429s) each account may make a day.
    public let requests: Int?
    /// Tokens each account may use a day.
    public let tokens: Int?

    /// A budget of either kind, or both.
    public init(requests: Int?, tokens: Int?) {
        self.requests = requests
        self.tokens = tokens
    }

    /// No budget.
    public static let none = DailyQuota(requests: nil, tokens: nil)

    /// One budget as typed: a whole number from 1, or `none`. `what` names it in errors, which
    /// never quote the text.
    public static func limit(parsing text: String, what: String) throws(KeyStoreError) -> Int? {
        let trimmed = text.trimmingASCIIWhitespace()
        if trimmed.lowercased() == "none" { return nil }
        guard let value = Int(trimmed.filter { $0 != "_" && $0 != "," }), value > 0, value <= 1_000_000_000_000_000
        else {
            throw .invalidInput("\(what) takes a whole number from 1, or none", hint: "for example \(what) 1500")
        }
        return value
    }
}

/// What `--set-quota` changes: each budget is left as it is unless given.
public struct QuotaChange: Sendable, Equatable {
    /// One budget: left as it is, cleared, or set.
    public enum Limit: Sendable, Equatable {
        case unchanged
        case none
        case perDay(Int)

        /// A budget as typed: a whole number from 1, or `none`. `what` names it in errors, which
        /// never quote the text.
        public init(parsing text: String, what: String) throws(KeyStoreError) {
            self = try DailyQuota.limit(parsing: text, what: what).map { .perDay($0) } ?? .none
        }

        var keep: Bool { self == .unchanged }
        var value: Int? { if case .perDay(let n) = self { n } else { nil } }
    }

    /// The budget of requests a day.
    public var requests: Limit
    /// The budget of tokens a day.
    public var tokens: Limit

    /// A change of either budget, or both.
    public init(requests: Limit, tokens: Limit) {
        self.requests = requests
        self.tokens = tokens
    }
}

/// The provider's project or organisation a key belongs to: keys of one account share its
/// limits. One printable line of at most 100 characters, not shaped like a key.
public struct AccountName: Hashable, Sendable, CustomStringConvertible {
    /// The name, trimmed; never `none`.
    public let rawValue: String

    /// `none` (any case) is no account: the word clears one.
    public static func parsing(_ text: String) throws(KeyStoreError) -> AccountName? {
        let checked = try OperatorText(validating: text, what: "account", limit: 100)
        if checked.rawValue.isEmpty {
            throw .invalidInput("the account is empty", hint: "give the provider's project or organisation, or none")
        }
        return checked.rawValue.lowercased() == "none" ? nil : AccountName(rawValue: checked.rawValue)
    }

    /// The name itself: account names are not secret.
    public var description: String { rawValue }
}

extension KeyStore {
    /// Puts key `number` in `account` (`nil`: an account of its own).
    public func setAccount(
        _ account: AccountName?, number: Int, of name: ProviderName
    ) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        let value = account?.rawValue
        return try changeKey(number: number, of: name, step: "setting the account of key #\(number) of \(name)") {
            provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k SET account = \(value)::text
                WHERE k.provider_id = \(provider) AND k.key_number = \(number) AND k.account IS DISTINCT FROM \(value)::text
                RETURNING k.api_key
                """, step: "setting the account of key #\(number) of \(name)")
        }
    }

    /// Sets the zone whose midnight resets the provider's daily limits (`nil`: the built-in one),
    /// checked against the server's list of zone names. Returns the zone in effect, as the server
    /// spells it, and whether anything changed.
    public func setResetZone(
        _ zone: String?, of name: ProviderName
    ) throws(KeyStoreError) -> (
        zone: String, changed: Bool
    ) {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                var canonical: String?
                if let zone {
                    // Names only (America/Los_Angeles, UTC, Etc/GMT+8): an abbreviation or a
                    // POSIX offset would ignore daylight saving or turn the sign around.
                    canonical = try transaction.query(
                        """
                        SELECT min(name) AS name FROM pg_catalog.pg_timezone_names
                        WHERE lower(name) = lower(\(zone)) AND name NOT LIKE 'posix/%'
                        """, step: "looking the zone up"
                    ).singleRow().decodeIfPresent("name")
                    guard canonical != nil else {
                        throw KeyStoreError.invalidInput(
                            "the server knows no time zone by that name",
                            hint: "give an IANA name such as America/Los_Angeles or UTC "
                                + "(SELECT name FROM pg_timezone_names lists them)")
                    }
                }
                let changed =
                    try transaction.query(
                        """
                        UPDATE public.providers SET reset_zone = \(canonical)::text
                        WHERE id = \(provider) AND reset_zone IS DISTINCT FROM \(canonical)::text
                        """, step: "setting the reset zone of \(name)"
                    ).affectedRowCount > 0
                let effective: String = try transaction.query(
                    "SELECT \(KeySQL.resetZone) AS zone FROM public.providers AS p WHERE p.id = \(provider)",
                    step: "reading the reset zone of \(name)"
                ).singleRow().decode("zone")
                return (effective, changed)
            }
        }
    }

    /// Changes the daily budget of each of the provider's accounts; returns the budget in
    /// effect and whether it changed. A budget set where there was none starts from what the
    /// accounts already used today (from the per-key counts), so it takes effect today.
    public func setQuota(
        _ change: QuotaChange, of name: ProviderName
    ) throws(KeyStoreError) -> (
        quota: DailyQuota, changed: Bool
    ) {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                let requests = change.requests.value
                let tokens = change.tokens.value
                let row = try transaction.query(
                    """
                    WITH before AS (
                        SELECT p.requests_per_day, p.tokens_per_day FROM public.providers AS p WHERE p.id = \(provider)
                    ),
                    changed AS (
                        UPDATE public.providers AS p
                        SET requests_per_day = CASE WHEN \(change.requests.keep) THEN p.requests_per_day ELSE \(requests)::bigint END,
                            tokens_per_day = CASE WHEN \(change.tokens.keep) THEN p.tokens_per_day ELSE \(tokens)::bigint END
                        WHERE p.id = \(provider)
                        RETURNING p.requests_per_day, p.tokens_per_day
                    )
                    SELECT c.requests_per_day, c.tokens_per_day,
                           (c.requests_per_day IS DISTINCT FROM b.requests_per_day
                            OR c.tokens_per_day IS DISTINCT FROM b.tokens_per_day) AS changed
                    FROM changed AS c, before AS b
                    """, step: "setting the quota of \(name)"
                ).singleRow()
                let quota = DailyQuota(
                    requests: try row.decodeIfPresent("requests_per_day"),
                    tokens: try row.decodeIfPresent("tokens_per_day"))
                if quota == .none {
                    try transaction.query(
                        "DELETE FROM keyadmin.account_usage WHERE provider_id = \(provider)",
                        step: "forgetting the per-account counts of \(name)")
                } else {
                    // Today's counts of every account, from the per-key counts: replaces what was
                    // kept (the same numbers, unless keys changed account since).
                    try transaction.query(
                        """
                        INSERT INTO keyadmin.account_usage AS a (provider_id, account, day, requests, tokens)
                        SELECT k.provider_id, k.account, u.day,
                               sum(u.succeeded + u.refused + u.failed + u.other), sum(u.tokens)
                        FROM public.provider_api_keys AS k
                        JOIN public.providers AS p ON p.id = k.provider_id
                        JOIN keyadmin.key_usage AS u
                          ON u.key_id = k.id AND u.day = (now() AT TIME ZONE \(KeySQL.resetZone))::date
                        WHERE k.provider_id = \(provider) AND k.account IS NOT NULL
                        GROUP BY k.provider_id, k.account, u.day
                        ON CONFLICT (provider_id, account, day) DO UPDATE
                        SET requests = excluded.requests, tokens = excluded.tokens
                        """, step: "counting what the accounts of \(name) used today")
                }
                return (quota, try row.decode("changed", as: Bool.self))
            }
        }
    }
}
