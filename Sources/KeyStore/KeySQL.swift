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
    /// computes the same in migration 033): disabled before expired before exhausted before
    /// cooling down (an exhausted key's cooldown lasts as long as its exhaustion).
    static let state: SQLFragment = """
        CASE
            WHEN k.disabled_at IS NOT NULL THEN 'disabled'
            WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
            WHEN k.exhausted_until > now() THEN 'exhausted'
            WHEN k.cooldown_until > now() THEN 'cooling_down'
            ELSE 'available'
        END
        """

    /// Key `k` has expired (an expiry that has passed; the `expired` of `state`).
    static let expired: SQLFragment = "(k.expires_at IS NOT NULL AND k.expires_at <= now())"

    /// The fingerprint events and listings show: 12 hex digits of the key's SHA-256, as
    /// keyadmin.key_fingerprint() computes it in migration 024 (a test compares the two).
    static let fingerprint: SQLFragment = "left(encode(\(keyHash(of: .column("k.api_key"))), 'hex'), 12)"

    /// The time zone whose midnight resets provider `p`'s daily limits: its generated column
    /// (migration 033), which holds the built-in default where none is set.
    static let resetZone: SQLFragment = "p.reset_zone_in_effect"

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

extension KeySQL {
    /// Today's usage of key `k` (its provider's day), as joins: `key_today` has the key's
    /// requests (every outcome), its requests but 429s (`served`) and tokens; `account_today`
    /// its account's requests (but 429s) and tokens, kept while a quota is set. Today's rows are
    /// found once, by provider and day, and hashed against the keys (a probe per key cost a
    /// listing of 90,000 keys 0.8 s of server time; this, 0.24 s).
    static let usageTodayJoins: SQLFragment = """
        LEFT JOIN (
            SELECT u.key_id, (u.succeeded + u.rate_limited + u.refused + u.failed + u.other)::bigint AS requests,
                   (u.succeeded + u.refused + u.failed + u.other)::bigint AS served, u.tokens
            FROM keyadmin.key_usage AS u
            JOIN (
                SELECT z.id, (now() AT TIME ZONE z.reset_zone_in_effect)::date AS day
                FROM public.providers AS z
            ) AS today ON today.id = u.provider_id AND u.day = today.day
        ) AS key_today ON key_today.key_id = k.id
        LEFT JOIN (
            SELECT a.provider_id, a.account, a.requests, a.tokens
            FROM keyadmin.account_usage AS a
            JOIN (
                SELECT z.id, (now() AT TIME ZONE z.reset_zone_in_effect)::date AS day
                FROM public.providers AS z
            ) AS today ON today.id = a.provider_id AND a.day = today.day
        ) AS account_today ON account_today.provider_id = k.provider_id AND account_today.account = k.account
        """

    /// The same columns, empty, for a role that may not read the usage tables.
    static let noUsageJoins: SQLFragment = """
        CROSS JOIN (SELECT NULL::bigint AS requests, NULL::bigint AS served, NULL::bigint AS tokens) AS key_today
        CROSS JOIN (SELECT NULL::bigint AS requests, NULL::bigint AS tokens) AS account_today
        """

    /// The columns of the joins above: key_requests, key_tokens, quota_requests, quota_tokens.
    static let usageTodayColumns: SQLFragment = """
        coalesce(key_today.requests, 0) AS key_requests, coalesce(key_today.tokens, 0) AS key_tokens,
        coalesce(account_today.requests, key_today.served, 0) AS quota_requests,
        coalesce(account_today.tokens, key_today.tokens, 0) AS quota_tokens
        """
}
