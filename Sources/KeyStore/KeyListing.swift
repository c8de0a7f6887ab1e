import Postgres

/// One provider in a listing.
public struct ProviderSummary: Sendable, Equatable {
    /// The provider's name.
    public let name: String
    /// Every key of the provider.
    public let keyCount: Int
    /// Keys in each state; keys that match the listing's state filter.
    public let stateCounts: [KeyState: Int]
    /// Keys in the state the listing asked for (every key when it asked for none).
    public let matchingCount: Int
    /// For aligning columns before the keys arrive.
    public let highestNumber: Int
    /// The longest key's length, for a `--reveal` column.
    public let longestKey: Int
    /// The longest label's length (0 when no key has one).
    public let longestLabel: Int
    /// When the provider was added, ISO 8601 in UTC.
    public let createdAt: String
    /// Each tier that has keys, lowest first, with how many it has and how many are available.
    public let tiers: [TierSummary]
    /// The time zone whose midnight resets its daily limits.
    public let resetZone: String
    /// The daily budget of each of its accounts, when set.
    public let quota: DailyQuota
}

/// One tier of a provider's pool.
public struct TierSummary: Sendable, Equatable {
    /// The tier.
    public let tier: KeyTier
    /// Its keys, in any state.
    public let keyCount: Int
    /// Its keys that may be drawn now.
    public let availableCount: Int
}

/// One key in a listing, with its health.
public struct StoredKey: Sendable {
    /// The provider's name.
    public let provider: String
    /// The key's number: what `get_api_key` takes.
    public let number: Int
    /// The key (masked when printed).
    public let key: APIKey
    /// 12 hex digits of the key's SHA-256: what the audit trail shows instead of the key.
    public let fingerprint: String
    /// When the key was added, ISO 8601 in UTC.
    public let createdAt: String
    /// When the key itself was last replaced (`--update-key`), ISO 8601 in UTC; `nil`: never.
    public let replacedAt: String?
    /// Its health now.
    public let state: KeyState
    /// Its tier (1 serves first).
    public let tier: KeyTier
    /// Its weight within the tier.
    public let weight: KeyWeight
    /// The operator's note, if any.
    public let label: String?
    /// Disabled: when, why, by whom, and whether automatically (a backend's report).
    public let disabledAt: String?
    /// Why it was disabled.
    public let reason: String?
    /// Who disabled it: an operator's actor name, or the role that reported a 401, 402 or 403.
    public let disabledBy: String?
    /// Disabled by a backend's report rather than by an operator.
    public let disabledAutomatically: Bool
    /// When it expires (or expired), ISO 8601 in UTC.
    public let expiresAt: String?
    /// Only while cooling down.
    public let cooldownUntil: String?
    /// Seconds until the cooldown ends, rounded up.
    public let cooldownSecondsLeft: Int?
    /// Failures reported in a row since the last success.
    public let consecutiveFailures: Int
    /// The HTTP status of the last report.
    public let lastStatus: Int?
    /// When a backend last reported on the key.
    public let lastReportedAt: String?
    /// The provider's project or organisation the key belongs to, when set.
    public let account: String?
    /// While exhausted: when it comes back, as the provider's zone tells it ("00:00 America/Los_Angeles").
    public let exhaustedUntilLocal: String?
    /// Today's usage (the provider's day): the key's own, and its account's when it has one.
    public let usageToday: UsageToday
}

/// Requests (all but 429s) and tokens counted today, per key and per account.
public struct UsageToday: Sendable, Equatable {
    /// Requests reported for the key today, whatever their outcome.
    public let keyRequests: Int
    /// Tokens reported for the key today.
    public let keyTokens: Int
    /// What the quota is compared with: the account's requests (all but 429s) and tokens, or the
    /// key's when it has no account or no quota is kept.
    public let quotaRequests: Int
    /// Tokens the quota is compared with, chosen as `quotaRequests` is.
    public let quotaTokens: Int

    /// Nothing counted.
    public static let none = UsageToday(keyRequests: 0, keyTokens: 0, quotaRequests: 0, quotaTokens: 0)
}

extension KeyStore {
    /// Lists providers (all, or one) and then, unless `includingKeys` is false, streams their keys
    /// (all, or those in `state`),
    /// ordered by provider and number, from one snapshot: the summary and the keys agree even
    /// while others write. Keys arrive one row at a time, so memory stays flat for any number.
    public func list(
        provider: ProviderName?,
        state: KeyState? = nil,
        includingKeys: Bool = true,
        summaries: ([ProviderSummary]) throws -> Void,
        key: (StoredKey) throws -> Void
    ) throws(KeyStoreError) {
        try translatingErrors(provider: provider) {
            try connection.withTransaction(TransactionOptions(isolation: .repeatableRead, readOnly: true)) {
                transaction in
                // One pass over the keys, grouped by provider and tier, then summed per provider.
                let result = try transaction.query(
                    """
                    WITH per_tier AS (
                        SELECT p.id, p.provider_name, p.created_at, k.tier, \(KeySQL.resetZone) AS reset_zone,
                               p.requests_per_day, p.tokens_per_day,
                               count(k.id)::integer AS key_count,
                               count(k.id) FILTER (WHERE \(KeySQL.state) = 'available')::integer AS available,
                               count(k.id) FILTER (WHERE \(KeySQL.state) = 'cooling_down')::integer AS cooling_down,
                               count(k.id) FILTER (WHERE \(KeySQL.state) = 'exhausted')::integer AS exhausted,
                               count(k.id) FILTER (WHERE \(KeySQL.state) = 'disabled')::integer AS disabled,
                               count(k.id) FILTER (WHERE \(KeySQL.state) = 'expired')::integer AS expired,
                               count(k.id) FILTER (WHERE \(state?.rawValue)::text IS NULL OR \(KeySQL.state) = \(state?.rawValue))::integer
                                   AS matching,
                               coalesce(max(k.key_number), 0) AS highest_number,
                               coalesce(max(char_length(k.api_key)), 0) AS longest_key,
                               coalesce(max(char_length(k.label)), 0) AS longest_label
                        FROM public.providers AS p
                        LEFT JOIN public.provider_api_keys AS k ON k.provider_id = p.id
                        WHERE \(provider?.rawValue)::text IS NULL OR p.provider_name = \(provider?.rawValue)
                        GROUP BY p.id, k.tier
                    )
                    SELECT provider_name,
                           sum(key_count)::integer AS key_count, sum(available)::integer AS available,
                           sum(cooling_down)::integer AS cooling_down, sum(exhausted)::integer AS exhausted,
                           sum(disabled)::integer AS disabled,
                           sum(expired)::integer AS expired, sum(matching)::integer AS matching,
                           max(highest_number) AS highest_number, max(longest_key) AS longest_key,
                           max(longest_label) AS longest_label,
                           coalesce(string_agg(tier || ':' || key_count || ':' || available, ',' ORDER BY tier)
                                    FILTER (WHERE tier IS NOT NULL), '') AS tiers,
                           \(KeySQL.utc("min(created_at)")) AS created_at,
                           min(reset_zone) AS reset_zone, min(requests_per_day) AS requests_per_day,
                           min(tokens_per_day) AS tokens_per_day,
                           has_table_privilege('keyadmin.key_usage', 'SELECT')
                               AND has_table_privilege('keyadmin.account_usage', 'SELECT') AS usage_visible
                    FROM per_tier
                    GROUP BY id, provider_name
                    ORDER BY provider_name
                    """, step: "listing providers")
                let providers = try result.rows.map { row in
                    var counts: [KeyState: Int] = [:]
                    for state in KeyState.allCases { counts[state] = try row.decode(state.rawValue) }
                    let tiers = try row.decode("tiers", as: String.self).split(separator: ",").compactMap { entry in
                        let parts = entry.split(separator: ":").compactMap { Int($0) }
                        return parts.count == 3
                            ? TierSummary(
                                tier: KeyTier(checked: parts[0]), keyCount: parts[1], availableCount: parts[2])
                            : nil
                    }
                    return ProviderSummary(
                        name: try row.decode("provider_name"), keyCount: try row.decode("key_count"),
                        stateCounts: counts, matchingCount: try row.decode("matching"),
                        highestNumber: try row.decode("highest_number"), longestKey: try row.decode("longest_key"),
                        longestLabel: try row.decode("longest_label"),
                        createdAt: try row.decodeIfPresent("created_at") ?? "", tiers: tiers,
                        resetZone: try row.decode("reset_zone"),
                        quota: DailyQuota(
                            requests: try row.decodeIfPresent("requests_per_day"),
                            tokens: try row.decodeIfPresent("tokens_per_day")))
                }
                let usageVisible = try result.rows.first?.decode("usage_visible", as: Bool.self) ?? false
                if let provider, providers.isEmpty { throw KeyStoreError.providerNotFound(provider) }
                try summaries(providers)
                guard includingKeys, providers.contains(where: { $0.matchingCount > 0 }) else { return }
                try transaction.forEachRow(
                    """
                    SELECT p.provider_name, k.key_number, k.api_key, \(KeySQL.fingerprint) AS fingerprint,
                           \(KeySQL.state) AS state, k.label, k.tier, k.weight,
                           \(KeySQL.utc("k.created_at")) AS created_at, \(KeySQL.utc("k.replaced_at")) AS replaced_at,
                           \(KeySQL.utc("k.disabled_at")) AS disabled_at, k.disabled_reason, k.disabled_by,
                           k.disabled_automatically, \(KeySQL.utc("k.expires_at")) AS expires_at,
                           CASE WHEN k.cooldown_until > now() THEN \(KeySQL.utc("k.cooldown_until")) END AS cooldown_until,
                           CASE WHEN k.cooldown_until > now() THEN ceil(extract(epoch FROM k.cooldown_until - now()))::integer END
                               AS cooldown_seconds_left,
                           k.consecutive_failures, k.last_status, \(KeySQL.utc("k.last_reported_at")) AS last_reported_at,
                           k.account,
                           CASE WHEN k.exhausted_until > now()
                                THEN to_char(k.exhausted_until AT TIME ZONE \(KeySQL.resetZone), 'HH24:MI') || ' '
                                     || \(KeySQL.resetZone) END AS exhausted_until_local,
                           \(KeySQL.usageTodayColumns)
                    FROM public.provider_api_keys AS k
                    JOIN public.providers AS p ON p.id = k.provider_id
                    \(usageVisible ? KeySQL.usageTodayJoins : KeySQL.noUsageJoins)
                    WHERE (\(provider?.rawValue)::text IS NULL OR p.provider_name = \(provider?.rawValue))
                      AND (\(state?.rawValue)::text IS NULL OR \(KeySQL.state) = \(state?.rawValue))
                    ORDER BY p.provider_name, k.key_number
                    """, step: "listing keys"
                ) { row in
                    try key(
                        StoredKey(
                            provider: try row.decode("provider_name"), number: try row.decode("key_number"),
                            key: APIKey(checked: try row.decode("api_key")),
                            fingerprint: try row.decode("fingerprint"),
                            createdAt: try row.decodeIfPresent("created_at") ?? "",
                            replacedAt: try row.decodeIfPresent("replaced_at"),
                            state: KeyState(rawValue: try row.decode("state")) ?? .available,
                            tier: KeyTier(checked: try row.decode("tier")),
                            weight: KeyWeight(checked: try row.decode("weight")),
                            label: try row.decodeIfPresent("label"),
                            disabledAt: try row.decodeIfPresent("disabled_at"),
                            reason: try row.decodeIfPresent("disabled_reason"),
                            disabledBy: try row.decodeIfPresent("disabled_by"),
                            disabledAutomatically: try row.decode("disabled_automatically"),
                            expiresAt: try row.decodeIfPresent("expires_at"),
                            cooldownUntil: try row.decodeIfPresent("cooldown_until"),
                            cooldownSecondsLeft: try row.decodeIfPresent("cooldown_seconds_left"),
                            consecutiveFailures: try row.decode("consecutive_failures"),
                            lastStatus: try row.decodeIfPresent("last_status"),
                            lastReportedAt: try row.decodeIfPresent("last_reported_at"),
                            account: try row.decodeIfPresent("account"),
                            exhaustedUntilLocal: try row.decodeIfPresent("exhausted_until_local"),
                            usageToday: UsageToday(
                                keyRequests: try row.decode("key_requests"), keyTokens: try row.decode("key_tokens"),
                                quotaRequests: try row.decode("quota_requests"),
                                quotaTokens: try row.decode("quota_tokens"))))
                }
            }
        }
    }
}
