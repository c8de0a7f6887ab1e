import Postgres

/// A key that `--check` asks its provider about.
public struct CheckCandidate: Sendable {
    /// The key's number in its provider.
    public let number: Int
    /// The key, for the request's header.
    public let key: APIKey
    /// Its state when it was read.
    public let state: KeyState
    /// Disabled after a 401, 402 or 403 (only `--revive` probes such keys).
    public let disabledAutomatically: Bool
}

/// What a check will and will not probe, counted before it starts.
public struct CheckPlan: Sendable {
    /// Keys to probe: enabled and unexpired (cooling down included), and with `revive` the
    /// automatically disabled ones.
    public let candidates: Int
    /// Keys an operator disabled: never probed.
    public let disabledByOperator: Int
    /// Keys disabled after a 401, 402 or 403 and not probed (no `revive`).
    public let disabledAutomatically: Int
    /// Expired keys: not probed.
    public let expired: Int
}

/// One answer to record: the key, and what its provider said.
public struct CheckAnswer: Sendable {
    /// The key's number.
    public let number: Int
    /// The key asked about.
    public let key: APIKey
    /// The HTTP status the provider answered with.
    public let httpStatus: Int
    /// Seconds from `Retry-After`, for a 429; 0 when absent.
    public let retryAfterSeconds: Int
    /// Enable the key when it was disabled automatically and the answer is 2xx.
    public let revive: Bool

    /// An answer to record.
    public init(number: Int, key: APIKey, httpStatus: Int, retryAfterSeconds: Int, revive: Bool) {
        self.number = number
        self.key = key
        self.httpStatus = httpStatus
        self.retryAfterSeconds = retryAfterSeconds
        self.revive = revive
    }
}

extension KeyStore {
    /// Counts what `--check` would probe. Throws `providerNotFound`.
    public func checkPlan(of name: ProviderName, only number: Int?, revive: Bool) throws(KeyStoreError) -> CheckPlan {
        try translatingErrors(provider: name) {
            let result = try connection.query(
                """
                SELECT count(k.id) FILTER (WHERE k.disabled_at IS NULL AND NOT \(KeySQL.expired)
                                           OR \(revive) AND k.disabled_automatically AND k.disabled_at IS NOT NULL
                                              AND NOT \(KeySQL.expired))::integer AS candidates,
                       count(k.id) FILTER (WHERE k.disabled_at IS NOT NULL AND NOT k.disabled_automatically)::integer
                           AS by_operator,
                       count(k.id) FILTER (WHERE NOT \(revive) AND k.disabled_at IS NOT NULL
                                           AND k.disabled_automatically)::integer AS automatically,
                       count(k.id) FILTER (WHERE k.disabled_at IS NULL AND \(KeySQL.expired))::integer AS expired
                FROM public.providers AS p
                LEFT JOIN public.provider_api_keys AS k
                       ON k.provider_id = p.id AND (\(number)::integer IS NULL OR k.key_number = \(number)::integer)
                WHERE p.provider_name = \(name.rawValue)
                GROUP BY p.id
                """, step: "counting the keys of \(name) to check")
            guard let row = result.rows.first else { throw KeyStoreError.providerNotFound(name) }
            return CheckPlan(
                candidates: try row.decode("candidates"), disabledByOperator: try row.decode("by_operator"),
                disabledAutomatically: try row.decode("automatically"), expired: try row.decode("expired"))
        }
    }

    /// The next `limit` keys to probe after key number `after`, in number order: a page at a
    /// time, so that memory stays flat however many keys the provider has.
    public func checkCandidates(
        of name: ProviderName, only number: Int?, revive: Bool, after: Int, limit: Int
    ) throws(KeyStoreError) -> [CheckCandidate] {
        try translatingErrors(provider: name) {
            try connection.query(
                """
                SELECT k.key_number, k.api_key, \(KeySQL.state) AS state, k.disabled_automatically
                FROM public.providers AS p
                JOIN public.provider_api_keys AS k ON k.provider_id = p.id
                WHERE p.provider_name = \(name.rawValue) AND k.key_number > \(after)
                  AND (\(number)::integer IS NULL OR k.key_number = \(number)::integer)
                  AND NOT \(KeySQL.expired)
                  AND (k.disabled_at IS NULL OR \(revive) AND k.disabled_automatically)
                ORDER BY k.key_number
                LIMIT \(limit)
                """, step: "reading the keys of \(name) to check"
            ).rows.map { row in
                CheckCandidate(
                    number: try row.decode("key_number"), key: APIKey(checked: try row.decode("api_key")),
                    state: KeyState(rawValue: try row.decode("state")) ?? .available,
                    disabledAutomatically: try row.decode("disabled_automatically"))
            }
        }
    }

    /// Records answers in one transaction, through `report_api_key_result` (one place for the
    /// rules), in key-number order so that two checks at once lock rows in the same order.
    /// Keys `revive`d are enabled first, with `reason` in their history event. Returns each
    /// key's state afterwards by number (absent: the key was deleted or replaced meanwhile).
    public func recordCheckAnswers(
        _ answers: [CheckAnswer], for name: ProviderName, reviveReason: OperatorText
    ) throws(KeyStoreError) -> [Int: (state: KeyState, revived: Bool)] {
        let sorted = answers.sorted { $0.number < $1.number }
        let revivals = sorted.filter { $0.revive && (200...299).contains($0.httpStatus) }
        let report: Query = """
            SELECT a.number, public.report_api_key_result(\(name.rawValue), a.api_key, a.status, a.retry) AS state
            FROM unnest(\(sorted.map(\.number))::integer[], \(sorted.map(\.key.revealed))::text[],
                        \(sorted.map(\.httpStatus))::integer[], \(sorted.map(\.retryAfterSeconds))::integer[])
                 AS a(number, api_key, status, retry)
            """
        // Only a key still disabled automatically, and still this key: an operator's disable
        // since the probe wins. Enabled before the report, which then clears its failures.
        let revive: [Query] =
            revivals.isEmpty
            ? []
            : [
                "SELECT set_config('keyadmin.reason', \(reviveReason.rawValue), true)",
                """
                UPDATE public.provider_api_keys AS k
                SET disabled_at = NULL, disabled_automatically = false, disabled_reason = NULL, disabled_by = NULL
                FROM public.providers AS p,
                     unnest(\(revivals.map(\.number))::integer[], \(revivals.map(\.key.revealed))::text[])
                         AS a(number, api_key)
                WHERE p.provider_name = \(name.rawValue) AND k.provider_id = p.id
                  AND k.key_number = a.number AND k.api_key = a.api_key
                  AND k.disabled_at IS NOT NULL AND k.disabled_automatically
                RETURNING k.key_number
                """,
            ]
        return try translatingErrors(provider: name) {
            // One round trip for the whole batch: over a hosted database's latency, round trips
            // are what a check's recording costs (docs/performance.md).
            let results = try connection.transactionInOneRoundTrip(
                [Self.asTheCheck] + revive + [report], step: "recording the answers")
            let revived = Set(
                try (revive.isEmpty ? [] : results[2].rows).map { try $0.decode("key_number", as: Int.self) })
            var states: [Int: (state: KeyState, revived: Bool)] = [:]
            for row in results[results.count - 1].rows {
                let number: Int = try row.decode("number")
                guard let state = KeyState(rawValue: try row.decodeIfPresent("state") ?? "") else { continue }
                states[number] = (state, revived.contains(number))
            }
            return states
        }
    }

    /// The check's transactions say so in their events' `application_name` (the audit triggers
    /// read it): a key disabled by a check is told apart from one a backend's report disabled.
    /// `keyadmin.probe` keeps its probes out of the usage counts (migration 033).
    static let asTheCheck: Query = """
        SELECT set_config('application_name', 'keyadmin --check', true), set_config('keyadmin.probe', 'on', true)
        """

    /// Records that a check ran, by whom, what it asked and what it found (`counts`, never a
    /// key), as one `provider_checked` event.
    public func recordCheck(
        of name: ProviderName, probeURL: String, interrupted: Bool, counts: [(name: String, value: Int)]
    ) throws(KeyStoreError) {
        try translatingErrors(provider: name) {
            _ = try connection.transactionInOneRoundTrip(
                [
                    Self.asTheCheck,
                    """
                    SELECT keyadmin.record_check(\(name.rawValue),
                        jsonb_build_object('probe_url', \(probeURL)::text, 'interrupted', \(interrupted)::boolean)
                        || (SELECT coalesce(jsonb_object_agg(c.name, c.value), '{}')
                            FROM unnest(\(counts.map(\.name))::text[], \(counts.map(\.value))::integer[]) AS c(name, value)))
                    """,
                ], step: "recording the check")
        }
    }
}
