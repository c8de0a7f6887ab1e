import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// What `--usage` reads: the sums of finished days (keyadmin.usage_days) and the rows after
/// them must add up to what the rows say, for every filter, whether or not the days could be
/// summed first; and the busiest keys and accounts carry their own counts.
@Suite struct UsageReportTests {
    /// Providers gemini (America/Los_Angeles) and openai (UTC), keys 1-6 each (1-3 in account
    /// alpha, 4-5 in beta, 6 in none), and ten days of usage per key, today's included: key n
    /// has n * 10 + day 2xx answers, (n + day) % 3 429s, day % 2 503s and 7 tokens a 2xx.
    /// Key 3 of gemini is the busiest, and account alpha of gemini.
    func seed(_ database: TestDatabase) throws {
        try database.connect().execute(
            SQLScript(
                trustedSQL: """
                    INSERT INTO providers (provider_name) VALUES ('gemini'), ('openai');
                    INSERT INTO provider_api_keys (provider_id, key_number, api_key, account)
                    SELECT p.id, n, 'sk-use-' || p.provider_name || n,
                           CASE WHEN n <= 3 THEN 'alpha' WHEN n <= 5 THEN 'beta' END
                    FROM providers AS p, generate_series(1, 6) AS n;
                    INSERT INTO keyadmin.key_usage (key_id, day, provider_id, succeeded, rate_limited, failed, tokens)
                    SELECT k.id, (now() AT TIME ZONE p.reset_zone_in_effect)::date - d, p.id,
                           k.key_number * 10 + d + CASE WHEN p.provider_name = 'gemini' AND k.key_number = 3
                                                        THEN 100 ELSE 0 END,
                           (k.key_number + d) % 3, d % 2, 7 * (k.key_number * 10 + d)
                    FROM provider_api_keys AS k JOIN providers AS p ON p.id = k.provider_id,
                         generate_series(0, 9) AS d;
                    """), step: "ten days of usage")
    }

    /// Per day, straight from the rows: what the chart must show for these providers and keys.
    func truth(
        _ database: TestDatabase, providers: [String], keys: [Int]? = nil, days: Int = 14
    ) throws -> [String: UsageCounts] {
        var sums: [String: UsageCounts] = [:]
        for row in try database.connect().query(
            """
            SELECT to_char(u.day, 'YYYY-MM-DD') AS day, sum(u.succeeded)::bigint AS succeeded,
                   sum(u.rate_limited)::bigint AS rate_limited, sum(u.refused)::bigint AS refused,
                   sum(u.failed)::bigint AS failed, sum(u.other)::bigint AS other, sum(u.tokens)::bigint AS tokens
            FROM keyadmin.key_usage AS u
            JOIN provider_api_keys AS k ON k.id = u.key_id
            JOIN providers AS p ON p.id = u.provider_id
            WHERE p.provider_name = ANY (\(providers)::text[])
              AND (\(keys)::integer[] IS NULL OR k.key_number = ANY (\(keys)::integer[]))
              AND u.day > (now() AT TIME ZONE p.reset_zone_in_effect)::date - \(days)::integer
            GROUP BY u.day
            """, step: "the rows' sums"
        ).rows {
            sums[try row.decode("day")] = try UsageCounts(row)
        }
        return sums
    }

    /// The days of usage two days or more back in their provider's zone: 8 of each provider's
    /// 10, counted when asked (a midnight between the seed and the check moves one more).
    static let finishedDays: Query = """
        SELECT count(DISTINCT (u.provider_id, u.day)) AS value
        FROM keyadmin.key_usage AS u JOIN providers AS p ON p.id = u.provider_id
        WHERE u.day < (now() AT TIME ZONE p.reset_zone_in_effect)::date - 1
        """

    func shown(_ report: UsageReport) -> [String: UsageCounts] {
        Dictionary(uniqueKeysWithValues: report.days.filter { $0.counts.requests > 0 }.map { ($0.day, $0.counts) })
    }

    @Test func theChartAddsUpToTheRowsWhetherOrNotFinishedDaysWereSummed() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            let gemini = try ProviderName(validating: "gemini")
            // A read-only session cannot sum the finished days: the chart reads every row.
            var readOnly = database.settings()
            readOnly.connectionString += " options='-c default_transaction_read_only=on'"
            let reader = KeyStore(connection: try Connection(settings: readOnly))
            #expect(
                shown(try reader.usage(UsageFilter(provider: gemini))) == (try truth(database, providers: ["gemini"])))
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.usage_days") == 0)

            // Nor does a writer while a pruning holds the lock they share: it reads the rows, at once.
            let pruning = try database.connect()
            try pruning.query("BEGIN", step: "a pruning")
            try pruning.query("SELECT pg_advisory_xact_lock(hashtext('keyadmin.usage_days'))", step: "its lock")
            // (Waiting would end in a lock timeout, an error here.)
            #expect(
                shown(try database.store().usage(UsageFilter(provider: gemini)))
                    == (try truth(database, providers: ["gemini"])))
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.usage_days") == 0)
            try pruning.query("ROLLBACK", step: "the pruning ends")

            // A writer sums them once (the finished days of each provider), and reads them after.
            let store = try database.store()
            let everything = try truth(database, providers: ["gemini", "openai"])
            for _ in 1...2 {
                #expect(
                    shown(try store.usage(UsageFilter(provider: gemini)))
                        == (try truth(database, providers: ["gemini"])))
                #expect(
                    try database.integer("SELECT count(*) AS value FROM keyadmin.usage_days")
                        == (try database.integer(Self.finishedDays)))
                // Every provider: the days of both, each provider's own days summed where they fall.
                var all = UsageFilter()
                all.days = 30
                #expect(shown(try store.usage(all)) == everything)
            }
            var key = UsageFilter(provider: gemini)
            key.keyNumber = 2
            #expect(shown(try store.usage(key)) == (try truth(database, providers: ["gemini"], keys: [2])))
            var account = UsageFilter(provider: gemini)
            account.account = try AccountName.parsing("beta")
            #expect(shown(try store.usage(account)) == (try truth(database, providers: ["gemini"], keys: [4, 5])))

            // The leaders carry their own counts over the days asked for (5 of the 10), not the
            // ranking's sum alone.
            var lastFive = UsageFilter(provider: gemini)
            lastFive.days = 5
            let report = try store.usage(lastFive)
            let busiest = try #require(report.busiestKeys.first)
            #expect(busiest.keyNumber == 3)
            let keyThree = try truth(database, providers: ["gemini"], keys: [3], days: 5).values.reduce(
                into: UsageCounts()
            ) {
                $0.add($1)
            }
            #expect(busiest.counts == keyThree)
            #expect(report.busiestKeys.map(\.keyNumber) == [3, 6, 5, 4, 2])
            let alpha = try truth(database, providers: ["gemini"], keys: [1, 2, 3], days: 5).values.reduce(
                into: UsageCounts()
            ) { $0.add($1) }
            #expect(report.busiestAccounts.map(\.account) == ["alpha", "beta"])
            #expect(report.busiestAccounts.first?.counts == alpha)
        }
    }
}
