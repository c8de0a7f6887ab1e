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
    /// One snapshot of every pool. Reads every key once and every usage row once.
    public func metrics() throws(KeyStoreError) -> PoolMetrics {
        try translatingErrors {
            try connection.withTransaction(TransactionOptions(isolation: .repeatableRead, readOnly: true)) {
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
                let providers = try transaction.query(
                    """
                    WITH used AS (
                        SELECT u.provider_id, sum(u.succeeded) AS succeeded, sum(u.rate_limited) AS rate_limited,
                               sum(u.refused) AS refused, sum(u.failed) AS failed, sum(u.other) AS other,
                               sum(u.tokens) AS tokens
                        FROM keyadmin.key_usage AS u
                        GROUP BY u.provider_id
                    ),
                    exhausted AS (
                        SELECT k.provider_id, count(DISTINCT coalesce('a' || k.account, 'k' || k.id::text)) AS accounts
                        FROM public.provider_api_keys AS k
                        WHERE k.disabled_at IS NULL AND k.exhausted_until > now()
                        GROUP BY k.provider_id
                    )
                    SELECT p.provider_name, p.requests_per_day, p.tokens_per_day,
                           (coalesce(u.succeeded, 0) + coalesce(g.succeeded, 0))::bigint AS succeeded,
                           (coalesce(u.rate_limited, 0) + coalesce(g.rate_limited, 0))::bigint AS rate_limited,
                           (coalesce(u.refused, 0) + coalesce(g.refused, 0))::bigint AS refused,
                           (coalesce(u.failed, 0) + coalesce(g.failed, 0))::bigint AS failed,
                           (coalesce(u.other, 0) + coalesce(g.other, 0))::bigint AS other,
                           (coalesce(u.tokens, 0) + coalesce(g.tokens, 0))::bigint AS tokens,
                           coalesce(e.accounts, 0)::integer AS exhausted_accounts
                    FROM public.providers AS p
                    LEFT JOIN used AS u ON u.provider_id = p.id
                    LEFT JOIN keyadmin.usage_pruned AS g ON g.provider_id = p.id
                    LEFT JOIN exhausted AS e ON e.provider_id = p.id
                    ORDER BY p.provider_name
                    """, step: "summing the usage"
                ).rows.map { row in
                    PoolMetrics.ProviderTotals(
                        provider: try row.decode("provider_name"), counts: try UsageCounts(row),
                        exhaustedAccounts: try row.decode("exhausted_accounts"),
                        quota: DailyQuota(
                            requests: try row.decodeIfPresent("requests_per_day"),
                            tokens: try row.decodeIfPresent("tokens_per_day")))
                }
                return PoolMetrics(keys: keys, providers: providers)
            }
        }
    }

    /// Deletes the usage days before `cutoff`'s day in each provider's reset zone, adding what
    /// they counted to the pruned totals first (so totals never decrease), and records that it
    /// did, in one transaction. Returns how many key-days went.
    public func pruneUsage(before cutoff: UTCTime) throws(KeyStoreError) -> Int {
        let time = cutoff.description
        return try translatingErrors {
            try connection.withTransaction { transaction in
                try transaction.query(
                    """
                    WITH gone AS (
                        DELETE FROM keyadmin.key_usage AS u
                        USING public.providers AS p
                        WHERE p.id = u.provider_id
                          AND u.day < (\(time)::timestamptz AT TIME ZONE \(KeySQL.resetZone))::date
                        RETURNING u.*
                    ),
                    per_provider AS (
                        SELECT g.provider_id, count(*) AS days, sum(g.succeeded) AS succeeded,
                               sum(g.rate_limited) AS rate_limited, sum(g.refused) AS refused, sum(g.failed) AS failed,
                               sum(g.other) AS other, sum(g.tokens) AS tokens
                        FROM gone AS g
                        GROUP BY g.provider_id
                    ),
                    kept AS (
                        INSERT INTO keyadmin.usage_pruned AS t
                            (provider_id, succeeded, rate_limited, refused, failed, other, tokens)
                        SELECT provider_id, succeeded, rate_limited, refused, failed, other, tokens FROM per_provider
                        ON CONFLICT (provider_id) DO UPDATE
                        SET succeeded = t.succeeded + excluded.succeeded, rate_limited = t.rate_limited + excluded.rate_limited,
                            refused = t.refused + excluded.refused, failed = t.failed + excluded.failed,
                            other = t.other + excluded.other, tokens = t.tokens + excluded.tokens
                        RETURNING 1
                    ),
                    accounts AS (
                        DELETE FROM keyadmin.account_usage AS a
                        USING public.providers AS p
                        WHERE p.id = a.provider_id
                          AND a.day < (\(time)::timestamptz AT TIME ZONE \(KeySQL.resetZone))::date
                        RETURNING 1
                    )
                    INSERT INTO keyadmin.key_events (action, detail, actor, db_role, application_name, client_address)
                    SELECT 'usage_pruned',
                           jsonb_build_object('before', \(time)::text,
                                              'deleted', coalesce((SELECT sum(days) FROM per_provider), 0),
                                              'account_days_deleted', (SELECT count(*) FROM accounts),
                                              'providers', (SELECT count(*) FROM kept)),
                           keyadmin.event_actor(), session_user, current_setting('application_name', true),
                           inet_client_addr()
                    RETURNING (detail ->> 'deleted')::integer AS deleted
                    """, step: "pruning the usage"
                ).singleRow().decode("deleted")
            }
        }
    }
}
