import Postgres

/// How one provider's pool stands: what the doctor judges, and what a monitor may read.
public struct PoolHealth: Sendable, Equatable {
    /// The provider's name.
    public let provider: String
    /// Every key of the provider, in any state.
    public let keyCount: Int
    /// Keys that `get_random_api_key` may draw now.
    public let availableCount: Int
    /// Keys resting until the provider's reset (a daily limit used up).
    public let exhaustedCount: Int
    /// Keys cooling down (a 429, or failures in a row).
    public let coolingCount: Int
    /// Enabled keys that expire within seven days, by number.
    public let expiringSoon: [Int]
    /// Keys disabled automatically (a 401, 402 or 403 reported), by number.
    public let disabledAutomatically: [Int]
    /// The lowest tier that has keys (nil when there are none).
    public let primaryTier: Int?
    /// The lowest tier that has an available key (nil when none has): when it is above
    /// `primaryTier`, the pool runs on its backups.
    public let servingTier: Int?
}

extension KeyStore {
    /// Every provider's pool, by name, from one snapshot.
    public func poolHealth() throws(KeyStoreError) -> [PoolHealth] {
        try translatingErrors {
            try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
                try transaction.query(
                    """
                    SELECT p.provider_name,
                           count(k.id)::integer AS total,
                           count(k.id) FILTER (WHERE \(KeySQL.state) = 'available')::integer AS available,
                           count(k.id) FILTER (WHERE \(KeySQL.state) = 'exhausted')::integer AS exhausted,
                           count(k.id) FILTER (WHERE \(KeySQL.state) = 'cooling_down')::integer AS cooling,
                           coalesce(array_agg(k.key_number ORDER BY k.key_number)
                               FILTER (WHERE k.disabled_at IS NULL AND k.expires_at > now()
                                         AND k.expires_at <= now() + interval '7 days'), '{}')::text AS expiring,
                           coalesce(array_agg(k.key_number ORDER BY k.key_number)
                               FILTER (WHERE k.disabled_at IS NOT NULL AND k.disabled_automatically), '{}')::text
                               AS auto_disabled,
                           min(k.tier)::integer AS primary_tier,
                           (min(k.tier) FILTER (WHERE \(KeySQL.state) = 'available'))::integer AS serving_tier
                    FROM public.providers AS p
                    LEFT JOIN public.provider_api_keys AS k ON k.provider_id = p.id
                    GROUP BY p.provider_name
                    ORDER BY p.provider_name
                    """, step: "reading the pools"
                ).rows.map { row in
                    PoolHealth(
                        provider: try row.decode("provider_name"), keyCount: try row.decode("total"),
                        availableCount: try row.decode("available"), exhaustedCount: try row.decode("exhausted"),
                        coolingCount: try row.decode("cooling"),
                        expiringSoon: Self.integers(inArrayText: try row.decode("expiring")),
                        disabledAutomatically: Self.integers(inArrayText: try row.decode("auto_disabled")),
                        primaryTier: try row.decodeIfPresent("primary_tier"),
                        servingTier: try row.decodeIfPresent("serving_tier"))
                }
            }
        }
    }

    /// "{1,2,3}" → [1, 2, 3]: an integer[] as PostgreSQL writes it in text.
    static func integers(inArrayText text: String) -> [Int] {
        text.dropFirst().dropLast().split(separator: ",").compactMap { Int($0) }
    }
}
