import Postgres

/// The per-provider sums of finished usage days (keyadmin.usage_days), which `--metrics` and
/// `--usage` read instead of those days' rows, and the pruning of old days.
extension KeyStore {
    /// Deletes the usage days before `cutoff`'s day in each provider's reset zone, adding what
    /// they counted to the pruned totals first (so totals never decrease), and records that it
    /// did, in one transaction (keyadmin.prune_usage, which a pg_cron schedule may call too).
    /// Returns how many key-days went.
    public func pruneUsage(before cutoff: UTCTime) throws(KeyStoreError) -> Int {
        try translatingErrors {
            try connection.withTransaction { transaction in
                try transaction.query(
                    "SELECT keyadmin.prune_usage(\(cutoff.description)::timestamptz) AS deleted",
                    step: "pruning the usage"
                ).singleRow().decode("deleted")
            }
        }
    }

    /// Sums the days that finished since the last run (two days back in each provider's zone:
    /// no report still lands there) into keyadmin.usage_days, one row per provider and day; the
    /// first run sums every finished day once. One statement per provider that has days to sum,
    /// with its bounds as values the planner sees. Nothing on a standby, in a session that is
    /// read-only, or for a role that may not write there (the totals then read those days' rows).
    /// `--metrics` and `--usage` call it before their snapshot.
    func closeFinishedUsageDays() throws {
        try connection.withTransaction { transaction in
            let allowed: Bool = try transaction.query(
                """
                SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'
                       AND has_table_privilege('keyadmin.usage_days', 'INSERT')
                       AND has_table_privilege('keyadmin.key_usage', 'SELECT') AS allowed
                """, step: "looking at the server"
            ).singleRow().decode("allowed")
            guard allowed else { return }
            // keyadmin.prune_usage takes the same lock: a day summed here while a pruning moved
            // its rows to usage_pruned would be counted twice. While one runs, the days are left
            // to the next run (the reader then sums their rows), rather than waiting for it.
            let locked: Bool = try transaction.query(
                "SELECT pg_try_advisory_xact_lock(hashtext('keyadmin.usage_days')) AS locked",
                step: "looking for a pruning"
            ).singleRow().decode("locked")
            guard locked else { return }
            let spans = try transaction.query(
                """
                SELECT p.id, coalesce(max(d.day), '-infinity'::date)::text AS after,
                       ((now() AT TIME ZONE \(KeySQL.resetZone))::date - 1)::text AS before
                FROM public.providers AS p
                LEFT JOIN keyadmin.usage_days AS d ON d.provider_id = p.id
                GROUP BY p.id
                """, step: "finding the finished usage days"
            ).rows.map {
                (
                    try $0.decode("id", as: Int.self), try $0.decode("after", as: String.self),
                    try $0.decode("before", as: String.self)
                )
            }
            for (provider, after, before) in spans {
                try transaction.query(
                    """
                    INSERT INTO keyadmin.usage_days
                        (provider_id, day, succeeded, rate_limited, refused, failed, other, tokens)
                    SELECT u.provider_id, u.day, sum(u.succeeded), sum(u.rate_limited), sum(u.refused), sum(u.failed),
                           sum(u.other), sum(u.tokens)
                    FROM keyadmin.key_usage AS u
                    WHERE u.provider_id = \(provider) AND u.day > \(after)::date AND u.day < \(before)::date
                    GROUP BY u.provider_id, u.day
                    ON CONFLICT (provider_id, day) DO NOTHING
                    """, step: "summing the finished usage days")
            }
        }
    }
}
