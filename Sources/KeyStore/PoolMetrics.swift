import Postgres

/// The pools as a monitor reads them (`--metrics`): keys per provider, tier and state; requests
/// and tokens since counting began, per provider and outcome (pruned days included, so the
/// totals never decrease); accounts exhausted now.
public struct PoolMetrics: Sendable, Equatable {
    /// Keys of one provider, tier and state.
    public struct KeyCount: Sendable, Equatable {
        /// The provider's name.
        public let provider: String
        /// The tier, 1-9.
        public let tier: Int
        /// The state.
        public let state: KeyState
        /// How many keys.
        public let count: Int
    }

    /// One provider's totals since counting began.
    public struct ProviderTotals: Sendable, Equatable {
        /// The provider's name.
        public let provider: String
        /// Requests by outcome, and tokens, pruned days included.
        public let counts: UsageCounts
        /// Accounts (a key without one is its own) whose keys rest until the provider's reset.
        public let exhaustedAccounts: Int
        /// The provider's daily budget per account, when set.
        public let quota: DailyQuota
    }

    /// Every state of every tier that has keys, zeros included, so an alert on a count sees 0
    /// rather than no series.
    public let keys: [KeyCount]
    /// Every provider, zeros included.
    public let providers: [ProviderTotals]
}

extension KeyStore {
    /// One snapshot of every pool. Reads every key once; the usage totals are what pruned days
    /// counted, plus the sums of finished days (keyadmin.usage_days), plus the rows of the days
    /// after them. Days that finished since the last run are summed into usage_days first, where
    /// the role may write and the server is not a standby; elsewhere their rows are read instead.
    public func metrics() throws(KeyStoreError) -> PoolMetrics {
        try translatingErrors {
            try closeFinishedUsageDays()
            return try connection.withTransaction(TransactionOptions(isolation: .repeatableRead, readOnly: true)) {
                transaction in
                let keys = try transaction.query(
                    """
                    WITH counted AS (
                        SELECT k.provider_id, k.tier, \(KeySQL.state) AS state, count(*)::integer AS keys
                        FROM public.provider_api_keys AS k
                        GROUP BY 1, 2, 3
                    )
                    SELECT p.provider_name, t.tier::integer AS tier, s.state, coalesce(c.keys, 0) AS keys
                    FROM public.providers AS p
                    JOIN (SELECT DISTINCT provider_id, tier FROM counted) AS t ON t.provider_id = p.id
                    CROSS JOIN unnest(\(KeyState.allCases.map(\.rawValue))::text[]) AS s(state)
                    LEFT JOIN counted AS c ON c.provider_id = p.id AND c.tier = t.tier AND c.state = s.state
                    ORDER BY p.provider_name, t.tier, s.state
                    """, step: "counting the keys"
                ).rows.map { row in
                    PoolMetrics.KeyCount(
                        provider: try row.decode("provider_name"), tier: try row.decode("tier"),
                        state: KeyState(rawValue: try row.decode("state")) ?? .available, count: try row.decode("keys"))
                }
                // Per provider: what pruned days counted plus the sums of the finished days, and the
                // day those end; then, one query each, the rows after it (an index range whose
                // bounds the planner sees, not a parameter of a join it would guess a third of).
                var providers: [PoolMetrics.ProviderTotals] = []
                for row in try transaction.query(
                    """
                    WITH closed AS (
                        SELECT d.provider_id, max(d.day) AS last_day, sum(d.succeeded) AS succeeded,
                               sum(d.rate_limited) AS rate_limited, sum(d.refused) AS refused, sum(d.failed) AS failed,
                               sum(d.other) AS other, sum(d.tokens) AS tokens
                        FROM keyadmin.usage_days AS d
                        GROUP BY d.provider_id
                    ),
                    exhausted AS (
                        SELECT k.provider_id, count(DISTINCT coalesce('a' || k.account, 'k' || k.id::text)) AS accounts
                        FROM public.provider_api_keys AS k
                        WHERE k.disabled_at IS NULL AND k.exhausted_until > now()
                        GROUP BY k.provider_id
                    )
                    SELECT p.id, p.provider_name, p.requests_per_day, p.tokens_per_day,
                           coalesce(c.last_day, '-infinity'::date)::text AS last_closed_day,
                           (coalesce(c.succeeded, 0) + coalesce(g.succeeded, 0))::bigint AS succeeded,
                           (coalesce(c.rate_limited, 0) + coalesce(g.rate_limited, 0))::bigint AS rate_limited,
                           (coalesce(c.refused, 0) + coalesce(g.refused, 0))::bigint AS refused,
                           (coalesce(c.failed, 0) + coalesce(g.failed, 0))::bigint AS failed,
                           (coalesce(c.other, 0) + coalesce(g.other, 0))::bigint AS other,
                           (coalesce(c.tokens, 0) + coalesce(g.tokens, 0))::bigint AS tokens,
                           coalesce(e.accounts, 0)::integer AS exhausted_accounts
                    FROM public.providers AS p
                    LEFT JOIN closed AS c ON c.provider_id = p.id
                    LEFT JOIN keyadmin.usage_pruned AS g ON g.provider_id = p.id
                    LEFT JOIN exhausted AS e ON e.provider_id = p.id
                    ORDER BY p.provider_name
                    """, step: "summing the usage"
                ).rows {
                    var counts = try UsageCounts(row)
                    let live = try transaction.query(
                        """
                        SELECT coalesce(sum(u.succeeded), 0)::bigint AS succeeded,
                               coalesce(sum(u.rate_limited), 0)::bigint AS rate_limited,
                               coalesce(sum(u.refused), 0)::bigint AS refused, coalesce(sum(u.failed), 0)::bigint AS failed,
                               coalesce(sum(u.other), 0)::bigint AS other, coalesce(sum(u.tokens), 0)::bigint AS tokens
                        FROM keyadmin.key_usage AS u
                        WHERE u.provider_id = \(try row.decode("id", as: Int.self))
                          AND u.day > \(try row.decode("last_closed_day", as: String.self))::date
                        """, step: "summing the usage of the last days"
                    ).singleRow()
                    counts.add(try UsageCounts(live))
                    providers.append(
                        PoolMetrics.ProviderTotals(
                            provider: try row.decode("provider_name"), counts: counts,
                            exhaustedAccounts: try row.decode("exhausted_accounts"),
                            quota: DailyQuota(
                                requests: try row.decodeIfPresent("requests_per_day"),
                                tokens: try row.decodeIfPresent("tokens_per_day"))))
                }
                return PoolMetrics(keys: keys, providers: providers)
            }
        }
    }
}
