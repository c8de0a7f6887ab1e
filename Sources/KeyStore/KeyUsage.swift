import Postgres

/// Requests by outcome, and tokens, as backends reported them (migration 033).
public struct UsageCounts: Sendable, Equatable {
    /// 2xx answers.
    public var succeeded = 0
    /// 429 answers.
    public var rateLimited = 0
    /// 401, 402 and 403 answers: the key was refused.
    public var refused = 0
    /// 408 and 5xx answers.
    public var failed = 0
    /// Any other answer.
    public var other = 0
    /// Tokens the requests used, where backends said.
    public var tokens = 0

    /// No requests.
    public init() {}

    /// Adds `other`'s counts to these.
    public mutating func add(_ other: UsageCounts) {
        succeeded += other.succeeded
        rateLimited += other.rateLimited
        refused += other.refused
        failed += other.failed
        self.other += other.other
        tokens += other.tokens
    }

    /// Every reported request, whatever its answer.
    public var requests: Int { succeeded + rateLimited + refused + failed + other }

    /// The outcomes in the order charts stack them, with the words `--json` and metrics use.
    public var byOutcome: [(outcome: UsageOutcome, count: Int)] {
        [(.succeeded, succeeded), (.rateLimited, rateLimited), (.refused, refused), (.failed, failed), (.other, other)]
    }

    init(_ row: Row) throws {
        succeeded = try row.decode("succeeded")
        rateLimited = try row.decode("rate_limited")
        refused = try row.decode("refused")
        failed = try row.decode("failed")
        other = try row.decode("other")
        tokens = try row.decode("tokens")
    }
}

/// What a provider answered a request, as usage counts it.
public enum UsageOutcome: String, Sendable, CaseIterable {
    case succeeded = "success"
    case rateLimited = "rate_limited"
    case refused
    case failed
    case other

    /// For people: "2xx", "429", "401/402/403", "408/5xx", "other".
    public var statuses: String {
        switch self {
        case .succeeded: "2xx"
        case .rateLimited: "429"
        case .refused: "401/402/403"
        case .failed: "408/5xx"
        case .other: "other"
        }
    }
}

/// One day of the chart.
public struct UsageDay: Sendable, Equatable {
    /// YYYY-MM-DD, in the provider's reset zone.
    public let day: String
    /// Its requests and tokens.
    public let counts: UsageCounts

    /// A day and what it counted.
    public init(day: String, counts: UsageCounts) {
        self.day = day
        self.counts = counts
    }
}

/// One of the busiest keys or accounts over the days asked for.
public struct UsageLeader: Sendable, Equatable {
    /// The provider's name.
    public let provider: String
    /// The key's number; `nil` for an account, or for a key deleted since.
    public let keyNumber: Int?
    /// The key's fingerprint (12 hex digits of its SHA-256), never the key.
    public let fingerprint: String?
    /// The account (the key's, or the one this line is about).
    public let account: String?
    /// Its requests and tokens over the days asked for.
    public let counts: UsageCounts
}

/// What `--usage` shows.
public struct UsageReport: Sendable, Equatable {
    /// The last `days` days, oldest first, every day present (zero when nothing was reported).
    public let days: [UsageDay]
    /// The keys with the most requests, most first.
    public let busiestKeys: [UsageLeader]
    /// The accounts with the most requests, most first.
    public let busiestAccounts: [UsageLeader]
    /// Keys exhausted now, and the accounts they make up (a key without one is its own).
    public let exhaustedKeys: Int
    /// The accounts those keys make up.
    public let exhaustedAccounts: Int
}

/// Which usage `--usage` reads.
public struct UsageFilter: Sendable, Equatable {
    /// Only this provider; every provider when `nil`.
    public var provider: ProviderName?
    /// How many days, ending today.
    public var days = 14
    /// Only this key (needs `provider`).
    public var keyNumber: Int?
    /// Only this account's keys (needs `provider`).
    public var account: AccountName?

    /// Every key of `provider` (of every provider when `nil`), the last 14 days.
    public init(provider: ProviderName? = nil) { self.provider = provider }

    /// What `--days` accepts.
    public static let dayRange = 1...366
}

extension KeyStore {
    /// Usage per day and the busiest keys and accounts, from one snapshot. Days that finished
    /// since the last run are summed into keyadmin.usage_days first (as `--metrics` does), so
    /// that the chart of a provider reads those sums and only the rows of its last days. The
    /// busiest keys and accounts are ranked by one sum per key over the days asked for; their
    /// counts by outcome are summed afterwards, for those few keys and accounts alone.
    public func usage(_ filter: UsageFilter, leaders: Int = 5) throws(KeyStoreError) -> UsageReport {
        try translatingErrors(provider: filter.provider) {
            try closeFinishedUsageDays()
            return try connection.withTransaction(TransactionOptions(isolation: .repeatableRead, readOnly: true)) {
                transaction in
                let scope = try usageScope(filter, in: transaction)
                guard let lastDay = scope.lastDay else {
                    return UsageReport(
                        days: [], busiestKeys: [], busiestAccounts: [], exhaustedKeys: 0, exhaustedAccounts: 0)
                }
                let days = try usagePerDay(filter, scope: scope, lastDay: lastDay, in: transaction)
                let (keys, accounts) = try busiest(leaders, filter, scope: scope, lastDay: lastDay, in: transaction)
                let exhausted = try transaction.query(
                    """
                    SELECT count(*)::integer AS keys,
                           count(DISTINCT coalesce('a' || k.account, 'k' || k.id::text))::integer AS accounts
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = ANY (\(scope.providerIDs)::integer[])
                      AND (\(scope.keyIDs)::integer[] IS NULL OR k.id = ANY (\(scope.keyIDs)::integer[]))
                      AND k.disabled_at IS NULL AND k.exhausted_until > now()
                    """, step: "counting the exhausted keys"
                ).singleRow()
                return UsageReport(
                    days: days, busiestKeys: keys, busiestAccounts: accounts,
                    exhaustedKeys: try exhausted.decode("keys"), exhaustedAccounts: try exhausted.decode("accounts"))
            }
        }
    }

    private typealias UsageScope = (providerIDs: [Int], lastDay: String?, keyIDs: [Int]?)

    private static let usageSums: SQLFragment = """
        sum(u.succeeded)::bigint AS succeeded, sum(u.rate_limited)::bigint AS rate_limited,
        sum(u.refused)::bigint AS refused, sum(u.failed)::bigint AS failed, sum(u.other)::bigint AS other,
        sum(u.tokens)::bigint AS tokens
        """

    /// Which rows of keyadmin.key_usage (as `u`) the filter keeps: its providers and keys, the
    /// days asked for.
    private static func usageRowsKept(_ filter: UsageFilter, scope: UsageScope, lastDay: String) -> SQLFragment {
        """
        u.provider_id = ANY (\(scope.providerIDs)::integer[])
          AND u.day > \(lastDay)::date - \(filter.days)::integer AND u.day <= \(lastDay)::date
          AND (\(scope.keyIDs)::integer[] IS NULL OR u.key_id = ANY (\(scope.keyIDs)::integer[]))
        """
    }

    /// Every day asked for, oldest first, zero where nothing was counted. Per provider: the sums
    /// of its finished days from keyadmin.usage_days, then its rows after the last of them (a
    /// range of its index whose bounds the planner sees). A filter by key or account reads rows.
    private func usagePerDay(
        _ filter: UsageFilter, scope: UsageScope, lastDay: String, in transaction: Transaction
    ) throws -> [UsageDay] {
        let closed = try transaction.query(
            """
            SELECT q.id, CASE WHEN \(scope.keyIDs)::integer[] IS NULL
                                   AND has_table_privilege('keyadmin.usage_days', 'SELECT')
                              THEN (SELECT max(d.day) FROM keyadmin.usage_days AS d WHERE d.provider_id = q.id)
                         END::text AS through
            FROM unnest(\(scope.providerIDs)::integer[]) AS q(id)
            """, step: "finding the summed usage days"
        ).rows.map { (try $0.decode("id", as: Int.self), try $0.decodeIfPresent("through", as: String.self)) }
        var counted: [String: UsageCounts] = [:]
        let first: SQLFragment = "\(lastDay)::date - \(filter.days)::integer"
        for (provider, through) in closed {
            for row in try transaction.query(
                """
                SELECT to_char(u.day, 'YYYY-MM-DD') AS day, \(Self.usageSums)
                FROM (
                    SELECT d.day, d.succeeded, d.rate_limited, d.refused, d.failed, d.other, d.tokens
                    FROM keyadmin.usage_days AS d
                    WHERE d.provider_id = \(provider) AND \(through)::date IS NOT NULL
                      AND d.day > \(first) AND d.day <= least(\(through)::date, \(lastDay)::date)
                    UNION ALL
                    SELECT u.day, u.succeeded, u.rate_limited, u.refused, u.failed, u.other, u.tokens
                    FROM keyadmin.key_usage AS u
                    WHERE u.provider_id = \(provider)
                      AND u.day > greatest(\(through)::date, \(first)) AND u.day <= \(lastDay)::date
                      AND (\(scope.keyIDs)::integer[] IS NULL OR u.key_id = ANY (\(scope.keyIDs)::integer[]))
                ) AS u
                GROUP BY u.day
                """, step: "summing usage per day"
            ).rows {
                counted[try row.decode("day"), default: UsageCounts()].add(try UsageCounts(row))
            }
        }
        return Self.dayLabels(endingOn: lastDay, count: filter.days).map { day in
            UsageDay(day: day, counts: counted[day] ?? UsageCounts())
        }
    }

    /// `count` days as YYYY-MM-DD, oldest first, the last of them `last` (a date the server
    /// wrote in that form): civil dates, read and written by `UTCTime` at midnight UTC, so no
    /// time zone moves them.
    static func dayLabels(endingOn last: String, count: Int) -> [String] {
        guard let end = UTCTime(iso8601: last), count > 0 else { return [] }
        return (0..<count).reversed().map { back in
            String(UTCTime(secondsSinceEpoch: end.secondsSinceEpoch - Int64(back) * 86_400).description.prefix(10))
        }
    }

    /// The `limit` keys and accounts with the most requests over the days asked for. One sum per
    /// key ranks them (hashing every row into its key is most of a `--usage`: six sums more per
    /// row made it a third slower); then a second statement sums the leaders' counts by outcome,
    /// with their keys and accounts as values the planner sees: an index probe per key for an
    /// account of a few keys, one pass over the days' rows for an account of most of them (one
    /// account of 90,000 keys took 2.3 s through a probe per key, 1.6 s this way).
    private func busiest(
        _ limit: Int, _ filter: UsageFilter, scope: UsageScope, lastDay: String, in transaction: Transaction
    ) throws -> (keys: [UsageLeader], accounts: [UsageLeader]) {
        // Per-key sums of 100,000 keys are a hash table larger than the default work_mem;
        // spilling it to disk doubled the time. Transaction-local.
        try transaction.query("SET LOCAL work_mem = '64MB'", step: "sizing the sums")
        let kept = Self.usageRowsKept(filter, scope: scope, lastDay: lastDay)
        var keyIDs: [Int] = []
        var accountProviders: [Int] = []
        var accountNames: [String] = []
        for row in try transaction.query(
            """
            WITH per_key AS MATERIALIZED (
                SELECT u.key_id, sum(u.succeeded + u.rate_limited + u.refused + u.failed + u.other) AS requests
                FROM keyadmin.key_usage AS u
                WHERE \(kept)
                GROUP BY u.key_id
            )
            (SELECT t.key_id, NULL::integer AS provider_id, NULL::text AS account
             FROM per_key AS t ORDER BY t.requests DESC, t.key_id LIMIT \(limit))
            UNION ALL
            (SELECT NULL, k.provider_id, k.account
             FROM per_key AS t
             JOIN public.provider_api_keys AS k ON k.id = t.key_id
             WHERE k.account IS NOT NULL
             GROUP BY k.provider_id, k.account
             ORDER BY sum(t.requests) DESC, k.provider_id, k.account
             LIMIT \(limit))
            """, step: "ranking the keys and accounts"
        ).rows {
            if let key = try row.decodeIfPresent("key_id", as: Int.self) {
                keyIDs.append(key)
            } else {
                accountProviders.append(try row.decode("provider_id"))
                accountNames.append(try row.decode("account"))
            }
        }
        if keyIDs.isEmpty && accountNames.isEmpty { return ([], []) }
        var keys: [UsageLeader] = []
        var accounts: [UsageLeader] = []
        for row in try transaction.query(
            """
            WITH key_sums AS (
                SELECT u.key_id, max(u.provider_id) AS provider_id, \(Self.usageSums)
                FROM keyadmin.key_usage AS u
                WHERE \(kept) AND u.key_id = ANY (\(keyIDs)::integer[])
                GROUP BY u.key_id
            ),
            account_sums AS (
                SELECT k.provider_id, k.account, \(Self.usageSums)
                FROM public.provider_api_keys AS k
                JOIN keyadmin.key_usage AS u ON u.key_id = k.id
                WHERE k.account = ANY (\(accountNames)::text[]) AND k.provider_id = ANY (\(accountProviders)::integer[])
                  AND (k.provider_id, k.account) IN (
                      SELECT x.provider_id, x.account
                      FROM unnest(\(accountProviders)::integer[], \(accountNames)::text[]) AS x(provider_id, account))
                  AND \(kept)
                GROUP BY k.provider_id, k.account
            )
            SELECT 'key' AS kind, p.provider_name, k.key_number, k.account,
                   CASE WHEN k.id IS NOT NULL THEN \(KeySQL.fingerprint) END AS fingerprint,
                   t.succeeded, t.rate_limited, t.refused, t.failed, t.other, t.tokens,
                   t.succeeded + t.rate_limited + t.refused + t.failed + t.other AS requests
            FROM key_sums AS t
            JOIN public.providers AS p ON p.id = t.provider_id
            LEFT JOIN public.provider_api_keys AS k ON k.id = t.key_id
            UNION ALL
            SELECT 'account', p.provider_name, NULL, a.account, NULL,
                   a.succeeded, a.rate_limited, a.refused, a.failed, a.other, a.tokens,
                   a.succeeded + a.rate_limited + a.refused + a.failed + a.other
            FROM account_sums AS a
            JOIN public.providers AS p ON p.id = a.provider_id
            ORDER BY 1 DESC, 12 DESC, 2, 3, 4
            """, step: "summing the busiest keys and accounts"
        ).rows {
            let leader = UsageLeader(
                provider: try row.decode("provider_name"), keyNumber: try row.decodeIfPresent("key_number"),
                fingerprint: try row.decodeIfPresent("fingerprint"),
                account: try row.decodeIfPresent("account"),
                counts: try UsageCounts(row))
            if try row.decode("kind", as: String.self) == "key" {
                keys.append(leader)
            } else {
                accounts.append(leader)
            }
        }
        return (keys, accounts)
    }

    /// The providers the filter names (all of them when it names none), the last of their days
    /// (each provider's today, in its zone), and the keys `--key` or `--account` keeps (`nil`:
    /// every key). Refuses a provider or key number that does not exist.
    private func usageScope(_ filter: UsageFilter, in transaction: Transaction) throws -> UsageScope {
        let provider = filter.provider?.rawValue
        let row = try transaction.query(
            """
            SELECT coalesce(array_agg(p.id), '{}')::text AS ids,
                   max((now() AT TIME ZONE \(KeySQL.resetZone))::date)::text AS last_day,
                   CASE WHEN \(filter.keyNumber)::integer IS NOT NULL OR \(filter.account?.rawValue)::text IS NOT NULL
                        THEN (SELECT coalesce(array_agg(k.id), '{}') FROM public.provider_api_keys AS k
                              WHERE k.provider_id = ANY (array_agg(p.id))
                                AND (\(filter.keyNumber)::integer IS NULL OR k.key_number = \(filter.keyNumber)::integer)
                                AND (\(filter.account?.rawValue)::text IS NULL
                                     OR k.account = \(filter.account?.rawValue)::text))::text
                   END AS key_ids
            FROM public.providers AS p
            WHERE \(provider)::text IS NULL OR p.provider_name = \(provider)::text
            """, step: "finding what to sum"
        ).singleRow()
        let ids = Self.integers(inArrayText: try row.decode("ids"))
        if let name = filter.provider, ids.isEmpty { throw KeyStoreError.providerNotFound(name) }
        let keyIDs = try row.decodeIfPresent("key_ids", as: String.self).map(Self.integers(inArrayText:))
        if let name = filter.provider, let number = filter.keyNumber, keyIDs?.isEmpty ?? true {
            throw KeyStoreError.keyNotFound(name, number: number)
        }
        return (ids, try row.decodeIfPresent("last_day"), keyIDs)
    }
}
