import Postgres

/// SQL that several statements share, each written once. Tests compare them with the schema
/// (the hash with its index, the constraint names with the catalogue).
enum KeySQL {
    /// The SHA-256 of a key, exactly as the unique index `provider_api_keys_key_hash_provider_id_key`
    /// computes it, so that a lookup by it is one probe of that index. decode(..., 'escape')
    /// makes bytes of the text without depending on the client encoding; E'' strings mean the
    /// same whatever standard_conforming_strings says.
    static func keyHash(of operand: SQLFragment) -> SQLFragment {
        "sha256(decode(replace(\(operand), E'\\\\', E'\\\\\\\\'), 'escape'))"
    }

    /// The highest number provider `p` has given: its highest stored key, or a higher one that
    /// was deleted since (`last_key_number`). A new key gets this plus one, so a deleted number
    /// is never given to another key. Needs `public.providers AS p` in the FROM list.
    static let highestNumberGiven: SQLFragment = """
        greatest(p.last_key_number, coalesce(
            (SELECT max(k.key_number) FROM public.provider_api_keys AS k WHERE k.provider_id = p.id), 0))
        """
}

extension KeySQL {
    /// The state of key `k`, in the words of KeyState (and of report_api_key_result, which
    /// computes the same in migration 023): disabled before expired before cooling down.
    static let state: SQLFragment = """
        CASE
            WHEN k.disabled_at IS NOT NULL THEN 'disabled'
            WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
            WHEN k.cooldown_until > now() THEN 'cooling_down'
            ELSE 'available'
        END
        """

    /// Key `k` has expired (an expiry that has passed; the `expired` of `state`).
    static let expired: SQLFragment = "(k.expires_at IS NOT NULL AND k.expires_at <= now())"

    /// The fingerprint events and listings show: 12 hex digits of the key's SHA-256, as
    /// keyadmin.key_fingerprint() computes it in migration 024 (a test compares the two).
    static let fingerprint: SQLFragment = "left(encode(\(keyHash(of: .column("k.api_key"))), 'hex'), 12)"

    /// A timestamp as ISO 8601 in UTC, the form every listing shows.
    static func utc(_ column: SQLFragment) -> SQLFragment {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    }
}

/// Constraint names the store recognises in errors (by SQLSTATE and name, never by DETAIL).
enum ConstraintName {
    static let keyHash = "provider_api_keys_key_hash_provider_id_key"
    static let providerName = "providers_provider_name_key"
    static let keyNumber = "provider_api_keys_provider_id_key_number_key"
}
