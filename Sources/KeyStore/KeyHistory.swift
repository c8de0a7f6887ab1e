import Postgres

/// One entry of the audit trail (migration 024): what changed, when, and who did it. Keys appear
/// only as fingerprints.
public struct KeyEvent: Sendable {
    /// When the change was committed, ISO 8601 in UTC.
    public let occurredAt: String
    /// What happened, in snake case: `key_added`, `key_disabled`, `cooldown_started`...
    public let action: String
    /// The provider's name at the time; `nil` for events about no provider (a pruning).
    public let provider: String?
    /// The key's number, for events about one key.
    public let keyNumber: Int?
    /// 12 hex digits of the key's SHA-256: which key, without the key.
    public let fingerprint: String?
    /// The key's state before the change (`available`, `cooling_down`, `disabled`, `expired`).
    public let stateBefore: String?
    /// The key's state after the change.
    public let stateAfter: String?
    /// Why, when the writer said (a disable's reason, an automatic disable's HTTP status).
    public let reason: String?
    /// The event's details as JSON text (a bulk load's count and numbers, a new label...).
    public let detail: String?
    /// For an event about many keys at once (keys_added, keys_deleted): how many, which numbers.
    public let bulk: (count: Int, numbers: ClosedRange<Int>)?
    /// A new expiry (`expiry_set`, and keys added with one): ISO 8601 in UTC; `never` when one
    /// was removed.
    public let expiry: String?
    /// A new label (`label_set`, and keys added with one); empty when one was cleared.
    public let label: String?
    /// How many keys went with a deleted provider.
    public let deletedKeyCount: Int?
    /// A new tier (`tier_set`).
    public let tier: Int?
    /// A new weight (`weight_set`).
    public let weight: Int?
    /// What an event about a provider's setting or a check says: the endpoint set
    /// (`endpoint_set`), or what a check found (`provider_checked`).
    public let note: String?
    /// Who: the actor keyadmin sets in each transaction, else the database role.
    public let actor: String
    /// The database role of the session that made the change.
    public let role: String
    /// The session's `application_name` (keyadmin, PostgREST, psql...).
    public let applicationName: String?
    /// The client's address; `nil` over a Unix-domain socket.
    public let clientAddress: String?
}

/// Which events `--history` shows.
public struct HistoryFilter: Sendable, Equatable {
    /// Only this provider's events (a deleted provider's included).
    public var provider: ProviderName?
    /// Only events about this key number, bulk events whose range holds it included.
    public var keyNumber: Int?
    /// Events at or after this time.
    public var since: UTCTime?
    /// At most this many events, newest first.
    public var limit: Int

    /// A filter; with no arguments, the newest 50 events of every provider.
    public init(provider: ProviderName? = nil, keyNumber: Int? = nil, since: UTCTime? = nil, limit: Int = 50) {
        self.provider = provider
        self.keyNumber = keyNumber
        self.since = since
        self.limit = limit
    }
}

extension KeyStore {
    /// The newest events first (by id: events are numbered as they are written). A key number
    /// also matches the bulk events whose range holds it.
    public func history(_ filter: HistoryFilter) throws(KeyStoreError) -> [KeyEvent] {
        try translatingErrors(provider: filter.provider) {
            if let provider = filter.provider { try requireProviderOrItsHistory(provider) }
            return try connection.withTransaction(TransactionOptions(readOnly: true)) { transaction in
                try transaction.query(
                    """
                    SELECT \(KeySQL.utc("e.occurred_at")) AS occurred_at, e.action, e.provider_name, e.key_number,
                           e.key_fingerprint, e.state_before, e.state_after, e.reason, e.detail::text AS detail,
                           (e.detail ->> 'count')::integer AS bulk_count,
                           (e.detail ->> 'first_number')::integer AS bulk_first,
                           (e.detail ->> 'last_number')::integer AS bulk_last,
                           CASE WHEN e.detail ? 'expires_at'
                                THEN coalesce(\(KeySQL.utc("(e.detail ->> 'expires_at')::timestamptz")), 'never') END
                               AS expiry,
                           CASE WHEN e.detail ? 'label' THEN coalesce(e.detail ->> 'label', '') END AS label,
                           CASE WHEN e.action = 'provider_deleted' THEN (e.detail ->> 'key_count')::integer END
                               AS deleted_key_count,
                           CASE WHEN e.action = 'tier_set' THEN (e.detail ->> 'tier')::integer END AS tier,
                           CASE WHEN e.action = 'weight_set' THEN (e.detail ->> 'weight')::integer END AS weight,
                           CASE e.action
                               WHEN 'endpoint_set' THEN coalesce((e.detail ->> 'endpoint_url') || ' ('
                                                                 || (e.detail ->> 'api_style') || ' style)',
                                                                 'the built-in endpoint')
                               -- Before is UTC with Z whatever the event's age (older ones stored +00:00).
                               WHEN 'key_replaced' THEN 'was [' || (e.detail ->> 'previous_fingerprint') || ']'
                               WHEN 'account_set' THEN coalesce('account ' || (e.detail ->> 'account'), 'no account')
                               WHEN 'reset_zone_set' THEN 'resets at midnight '
                                   || coalesce(e.detail ->> 'reset_zone', 'of the built-in zone')
                               WHEN 'quota_set' THEN coalesce(
                                   nullif(concat_ws(' and ', (e.detail ->> 'requests_per_day') || ' requests',
                                                    (e.detail ->> 'tokens_per_day') || ' tokens'), '') || ' a day per account',
                                   'no quota')
                               WHEN 'account_cooled' THEN format(
                                   '%s more keys of account %s until %s (HTTP %s)', e.detail ->> 'key_count',
                                   e.detail ->> 'account', \(KeySQL.utc("(e.detail ->> 'until')::timestamptz")),
                                   e.detail ->> 'http_status')
                               WHEN 'account_exhausted' THEN format(
                                   '%s keys of account %s until %s (%s)', e.detail ->> 'key_count',
                                   e.detail ->> 'account', \(KeySQL.utc("(e.detail ->> 'until')::timestamptz")),
                                   CASE e.detail ->> 'cause' WHEN 'quota' THEN 'the daily quota is used up'
                                        ELSE 'the provider''s daily limit' END)
                               WHEN 'key_exhausted' THEN format(
                                   'until %s%s', \(KeySQL.utc("(e.detail ->> 'until')::timestamptz")),
                                   CASE e.detail ->> 'cause' WHEN 'quota' THEN ' (the daily quota is used up)'
                                        WHEN 'provider' THEN ' (the provider''s daily limit)' ELSE '' END)
                               WHEN 'usage_pruned' THEN format(
                                   '%s key-days of usage before %s (the totals keep them)', e.detail ->> 'deleted',
                                   \(KeySQL.utc("(e.detail ->> 'before')::timestamptz")))
                               WHEN 'history_pruned' THEN format(
                                   '%s events before %s', e.detail ->> 'deleted',
                                   \(KeySQL.utc("(e.detail ->> 'before')::timestamptz")))
                               WHEN 'provider_checked' THEN format(
                                   '%s of %s keys: %s ok, %s disabled, %s still refused, %s cooling down, %s failing, '
                                   || '%s other answers, %s no answer, %s enabled again%s',
                                   e.detail ->> 'checked', e.detail ->> 'total', e.detail ->> 'ok',
                                   e.detail ->> 'disabled', e.detail ->> 'still_refused', e.detail ->> 'cooling_down',
                                   e.detail ->> 'failing', e.detail ->> 'other_status', e.detail ->> 'no_answer',
                                   e.detail ->> 'revived',
                                   CASE WHEN (e.detail ->> 'withheld')::integer > 0
                                        THEN format(', %s refused, not recorded', e.detail ->> 'withheld') ELSE '' END
                                   || CASE WHEN (e.detail ->> 'interrupted')::boolean THEN '; interrupted' ELSE '' END)
                           END AS note,
                           e.actor, e.db_role, e.application_name, host(e.client_address) AS client_address
                    FROM keyadmin.key_events AS e
                    WHERE (\(filter.provider?.rawValue)::text IS NULL OR e.provider_name = \(filter.provider?.rawValue))
                      AND (\(filter.since?.description)::timestamptz IS NULL OR e.occurred_at >= \(filter.since?.description)::timestamptz)
                      AND (\(filter.keyNumber)::integer IS NULL OR e.key_number = \(filter.keyNumber)
                           OR e.detail -> 'key_numbers' @> to_jsonb(\(filter.keyNumber)::integer)
                           OR \(filter.keyNumber) BETWEEN (e.detail ->> 'first_number')::integer
                                                      AND (e.detail ->> 'last_number')::integer
                           -- A provider deleted before 027 recorded no number range.
                           OR (e.action = 'provider_deleted' AND NOT e.detail ? 'first_number'
                               AND (e.detail ->> 'key_count')::integer > 0))
                    ORDER BY e.id DESC
                    LIMIT \(filter.limit)
                    """, step: "reading the history"
                ).rows.map { row in
                    var bulk: (count: Int, numbers: ClosedRange<Int>)?
                    if let count: Int = try row.decodeIfPresent("bulk_count"),
                        let first: Int = try row.decodeIfPresent("bulk_first"),
                        let last: Int = try row.decodeIfPresent("bulk_last"), first <= last
                    {
                        bulk = (count, first...last)
                    }
                    return KeyEvent(
                        occurredAt: try row.decode("occurred_at"), action: try row.decode("action"),
                        provider: try row.decodeIfPresent("provider_name"),
                        keyNumber: try row.decodeIfPresent("key_number"),
                        fingerprint: try row.decodeIfPresent("key_fingerprint"),
                        stateBefore: try row.decodeIfPresent("state_before"),
                        stateAfter: try row.decodeIfPresent("state_after"),
                        reason: try row.decodeIfPresent("reason"), detail: try row.decodeIfPresent("detail"),
                        bulk: bulk, expiry: try row.decodeIfPresent("expiry"),
                        label: try row.decodeIfPresent("label"),
                        deletedKeyCount: try row.decodeIfPresent("deleted_key_count"),
                        tier: try row.decodeIfPresent("tier"), weight: try row.decodeIfPresent("weight"),
                        note: try row.decodeIfPresent("note"), actor: try row.decode("actor"),
                        role: try row.decode("db_role"),
                        applicationName: try row.decodeIfPresent("application_name"),
                        clientAddress: try row.decodeIfPresent("client_address"))
                }
            }
        }
    }

    /// Deletes the events before `time` (only the trail's owner may) and records that it did, in
    /// the same transaction. Returns how many went.
    public func pruneHistory(before cutoff: UTCTime) throws(KeyStoreError) -> Int {
        let time = cutoff.description
        return try translatingErrors {
            try connection.withTransaction { transaction in
                // One statement: the deletion and its record, in one round trip.
                try transaction.query(
                    """
                    WITH gone AS (DELETE FROM keyadmin.key_events WHERE occurred_at < \(time)::timestamptz RETURNING 1)
                    INSERT INTO keyadmin.key_events (action, detail, actor, db_role, application_name, client_address)
                    SELECT 'history_pruned', jsonb_build_object('before', \(time)::text, 'deleted', count(*)),
                           keyadmin.event_actor(), session_user, current_setting('application_name', true),
                           inet_client_addr()
                    FROM gone
                    RETURNING (detail ->> 'deleted')::integer AS deleted
                    """, step: "pruning the history"
                ).singleRow().decode("deleted")
            }
        }
    }

    /// How many events happened before `cutoff`: what a pruning would delete.
    public func eventCount(before cutoff: UTCTime) throws(KeyStoreError) -> Int {
        try translatingErrors {
            try connection.query(
                """
                SELECT count(*)::integer AS events FROM keyadmin.key_events
                WHERE occurred_at < \(cutoff.description)::timestamptz
                """, step: "counting the events to prune"
            ).singleRow().decode("events")
        }
    }

    /// A provider that exists, or that the history still names (a deleted provider's events).
    func requireProviderOrItsHistory(_ name: ProviderName) throws {
        let found = try connection.query(
            """
            SELECT 1 AS found WHERE EXISTS (SELECT 1 FROM public.providers WHERE provider_name = \(name.rawValue))
               OR EXISTS (SELECT 1 FROM keyadmin.key_events WHERE provider_name = \(name.rawValue))
            """, step: "looking up provider \(name)")
        if found.rowCount == 0 { throw KeyStoreError.providerNotFound(name) }
    }
}
