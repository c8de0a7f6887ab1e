import Postgres

/// One provider in a listing.
public struct ProviderSummary: Sendable, Equatable {
    public let name: String
    public let keyCount: Int
    /// For aligning columns before the keys arrive.
    public let highestNumber: Int
    public let longestKey: Int
    public let createdAt: String
}

/// One key in a listing.
public struct StoredKey: Sendable {
    public let provider: String
    public let number: Int
    public let key: APIKey
    public let createdAt: String
}

extension KeyStore {
    /// Lists providers (all, or one) and then streams their keys, ordered by provider and
    /// number, from one snapshot: the summary and the keys agree even while others write.
    /// Keys arrive one row at a time, so memory stays flat for any number of keys.
    public func list(
        provider: ProviderName?,
        summaries: ([ProviderSummary]) throws -> Void,
        key: (StoredKey) throws -> Void
    ) throws(KeyStoreError) {
        try translatingErrors(provider: provider) {
            try connection.withTransaction(TransactionOptions(isolation: .repeatableRead, readOnly: true)) {
                transaction in
                let result = try transaction.query(
                    """
                    SELECT p.provider_name,
                           count(k.id)::integer AS key_count,
                           coalesce(max(k.key_number), 0) AS highest_number,
                           coalesce(max(char_length(k.api_key)), 0) AS longest_key,
                           to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at
                    FROM public.providers AS p
                    LEFT JOIN public.provider_api_keys AS k ON k.provider_id = p.id
                    WHERE \(provider?.rawValue)::text IS NULL OR p.provider_name = \(provider?.rawValue)
                    GROUP BY p.id
                    ORDER BY p.provider_name
                    """, step: "listing providers")
                let providers = try result.rows.map { row in
                    ProviderSummary(
                        name: try row.decode("provider_name"), keyCount: try row.decode("key_count"),
                        highestNumber: try row.decode("highest_number"), longestKey: try row.decode("longest_key"),
                        createdAt: try row.decodeIfPresent("created_at") ?? "")
                }
                if let provider, providers.isEmpty { throw KeyStoreError.providerNotFound(provider) }
                try summaries(providers)
                guard providers.contains(where: { $0.keyCount > 0 }) else { return }
                try transaction.forEachRow(
                    """
                    SELECT p.provider_name, k.key_number, k.api_key,
                           to_char(k.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at
                    FROM public.provider_api_keys AS k
                    JOIN public.providers AS p ON p.id = k.provider_id
                    WHERE \(provider?.rawValue)::text IS NULL OR p.provider_name = \(provider?.rawValue)
                    ORDER BY p.provider_name, k.key_number
                    """, step: "listing keys"
                ) { row in
                    try key(
                        StoredKey(
                            provider: try row.decode("provider_name"), number: try row.decode("key_number"),
                            key: APIKey(checked: try row.decode("api_key")),
                            createdAt: try row.decodeIfPresent("created_at") ?? ""))
                }
            }
        }
    }
}
