import Dispatch
import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

/// Migration 033 in the database: counting, accounts, daily exhaustion, quotas, reset zones.
@Suite struct UsageTests {
    /// Provider gemini (reset zone America/Los_Angeles by default) with keys 1-6, sk-use-N:
    /// 1-3 in account alpha, 4-5 in account beta, 6 in none.
    func seed(_ database: TestDatabase, provider: String = "gemini") throws {
        try run(
            database,
            """
            INSERT INTO providers (provider_name) VALUES ('\(provider)');
            INSERT INTO provider_api_keys (provider_id, key_number, api_key, account)
            SELECT p.id, n, 'sk-use-' || n, CASE WHEN n <= 3 THEN 'alpha' WHEN n <= 5 THEN 'beta' END
            FROM providers AS p, generate_series(1, 6) AS n WHERE p.provider_name = '\(provider)';
            """)
    }

    func run(_ database: TestDatabase, _ sql: String) throws {
        try database.connect().execute(SQLScript(trustedSQL: sql), step: "test setup")
    }

    @discardableResult
    func report(
        _ database: TestDatabase, _ number: Int, _ status: Int, retryAfter: Int? = nil, tokens: Int? = nil,
        window: String? = nil, provider: String = "gemini"
    ) throws -> String? {
        try database.values(
            """
            SELECT report_api_key_result(\(provider), 'sk-use-' || \(number)::text, \(status), \(retryAfter)::integer,
                                         p_tokens => \(tokens)::integer, p_window => \(window)::text) AS value
            """
        ).first ?? nil
    }

    /// "number:state" for every key, by number.
    func states(_ database: TestDatabase) throws -> [String] {
        try database.values(
            """
            SELECT k.key_number || ':' || CASE
                       WHEN k.disabled_at IS NOT NULL THEN 'disabled'
                       WHEN k.exhausted_until > now() THEN 'exhausted'
                       WHEN k.cooldown_until > now() THEN 'cooling_down'
                       ELSE 'available' END AS value
            FROM provider_api_keys AS k ORDER BY k.key_number
            """
        ).compactMap { $0 }
    }

    /// "succeeded,rate_limited,refused,failed,other,tokens" of key `number`, summed over days.
    func counted(_ database: TestDatabase, _ number: Int) throws -> String? {
        try database.values(
            """
            SELECT concat_ws(',', sum(u.succeeded), sum(u.rate_limited), sum(u.refused), sum(u.failed), sum(u.other),
                             sum(u.tokens)) AS value
            FROM keyadmin.key_usage AS u JOIN provider_api_keys AS k ON k.id = u.key_id
            WHERE k.key_number = \(number)
            """
        ).first ?? nil
    }

    @Test func everyReportCountsByOutcomeWithItsTokens() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            for (status, tokens) in [(200, 10), (201, 20), (200, nil), (429, nil), (429, 5), (401, nil), (503, nil)]
                + [(408, nil), (302, nil), (404, 7)] as [(Int, Int?)]
            {
                try report(database, 6, status, tokens: tokens)
            }
            // 2xx 3, 429 2, refused 1, failed 2, other 2; tokens 10 + 20 + 5 + 7.
            #expect(try counted(database, 6) == "3,2,1,2,2,42")
            #expect(try counted(database, 5) == "")
            // A key that is not in the pool counts nothing.
            #expect(
                try database.values("SELECT report_api_key_result('gemini', 'sk-not-stored', 200) AS value") == [nil])
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_usage") == 1)
        }
    }

    /// The day a report counts on is the provider's day: two providers whose zones are 26 hours
    /// apart always count on different dates, each its zone's date now (a report that counted in
    /// UTC would be wrong for one of them at any hour).
    @Test func aReportCountsOnTheDayOfItsProvidersResetZone() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database, provider: "east")
            try run(database, "UPDATE providers SET reset_zone = 'Etc/GMT-14' WHERE provider_name = 'east'")
            try run(
                database,
                """
                INSERT INTO providers (provider_name, reset_zone) VALUES ('west', 'Etc/GMT+12');
                INSERT INTO provider_api_keys (provider_id, key_number, api_key)
                SELECT id, 1, 'sk-use-west' FROM providers WHERE provider_name = 'west';
                """)
            let connection = try database.connect()
            try connection.query("BEGIN", step: "one now() for the reports and the dates")
            try connection.query("SELECT report_api_key_result('east', 'sk-use-1', 200)", step: "east")
            try connection.query("SELECT report_api_key_result('west', 'sk-use-west', 200)", step: "west")
            let rows = try connection.query(
                """
                SELECT p.provider_name || ':' || (u.day = (now() AT TIME ZONE p.reset_zone)::date) AS value
                FROM keyadmin.key_usage AS u JOIN providers AS p ON p.id = u.provider_id ORDER BY 1
                """, step: "days"
            ).rows.map { try $0.decode("value", as: String.self) }
            try connection.query("COMMIT", step: "done")
            #expect(rows == ["east:true", "west:true"])
        }
    }

    /// The next reset is the next local midnight, whatever daylight saving does (fixed instants
    /// around both 2026 changes in Los Angeles), and a day-429 exhausts a key until exactly then.
    @Test func theNextResetIsTheNextLocalMidnightAcrossDaylightSaving() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let resets = try database.values(
                """
                SELECT to_char(keyadmin.next_reset('America/Los_Angeles', t::timestamptz) AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI"Z"') AS value
                FROM unnest(ARRAY['2026-03-08 07:59Z', '2026-03-08 08:01Z', '2026-11-01 06:59Z',
                                  '2026-11-01 07:01Z', '2026-11-01 12:00Z']) AS t
                """)
            #expect(
                resets == [
                    "2026-03-08T08:00Z",  // Saturday 23:59 PST: midnight PST
                    "2026-03-09T07:00Z",  // Sunday 00:01 PST; the next midnight is PDT
                    "2026-11-01T07:00Z",  // Saturday 23:59 PDT: midnight PDT
                    "2026-11-02T08:00Z",  // Sunday 00:01 PDT; the next midnight is PST
                    "2026-11-02T08:00Z",  // a day of 25 hours
                ])
            try seed(database)
            let connection = try database.connect()
            try connection.query("BEGIN", step: "one now()")
            try connection.query(
                "SELECT report_api_key_result('gemini', 'sk-use-6', 429, 60, p_window => 'day')", step: "report")
            let until = try connection.query(
                """
                SELECT (exhausted_until = keyadmin.next_reset('America/Los_Angeles', now())
                        AND cooldown_until = exhausted_until)::text AS value
                FROM provider_api_keys WHERE key_number = 6
                """, step: "read"
            ).singleRow().decode("value", as: String.self)
            try connection.query("COMMIT", step: "done")
            #expect(until == "true")
        }
    }

    @Test func a429CoolsTheWholeAccountUntilTheSameTimeAndThePicksSkipIt() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            #expect(try report(database, 1, 429, retryAfter: 600) == "cooling_down")
            #expect(
                try states(database) == [
                    "1:cooling_down", "2:cooling_down", "3:cooling_down", "4:available", "5:available", "6:available",
                ])
            #expect(
                try database.integer(
                    "SELECT count(DISTINCT cooldown_until) AS value FROM provider_api_keys WHERE key_number <= 3") == 1)
            // One event for the spread (the reported key has its own), not one per sibling.
            #expect(
                try database.values(
                    """
                    SELECT action || ':' || coalesce(key_number::text, '-') || ':' || coalesce(detail ->> 'key_count', '')
                           AS value
                    FROM keyadmin.key_events WHERE action IN ('cooldown_started', 'account_cooled') ORDER BY id
                    """) == ["cooldown_started:1:", "account_cooled:-:2"])
            let drawn = try database.values(
                "SELECT get_random_api_key('gemini') AS value FROM generate_series(1, 300)")
            #expect(Set(drawn.compactMap { $0 }).isSubset(of: ["sk-use-4", "sk-use-5", "sk-use-6"]))
            let sticky = try database.values(
                "SELECT get_sticky_api_key('gemini', 'conversation-' || g) AS value FROM generate_series(1, 300) AS g")
            #expect(Set(sticky.compactMap { $0 }).isSubset(of: ["sk-use-4", "sk-use-5", "sk-use-6"]))
            // A key of no account cools alone.
            #expect(try report(database, 6, 429, retryAfter: 600) == "cooling_down")
            #expect(try states(database).filter { $0.hasSuffix("available") } == ["4:available", "5:available"])
        }
    }

    @Test func aDaysLimitExhaustsTheAccountUntilTheResetAndNoOtherAccount() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            #expect(try report(database, 4, 429, retryAfter: 60, window: "day") == "exhausted")
            #expect(
                try states(database) == [
                    "1:available", "2:available", "3:available", "4:exhausted", "5:exhausted", "6:available",
                ])
            #expect(
                try database.values(
                    "SELECT detail ->> 'cause' AS value FROM keyadmin.key_events WHERE action = 'account_exhausted'")
                    == ["provider"])
            // A success on an exhausted key (the degrade rule drew it) leaves it resting.
            #expect(try report(database, 5, 200) == "exhausted")
            // A 2xx saying the day has nothing left (remaining 0) rests the account before a 429.
            #expect(try report(database, 1, 200, retryAfter: 3600, window: "day") == "exhausted")
            #expect(try states(database).filter { $0.hasSuffix("available") } == ["6:available"])
            // ... and the minute: the account rests for the seconds given.
            #expect(try report(database, 6, 200, retryAfter: 30, window: "minute") == "cooling_down")
            #expect(
                try database.integer(
                    "SELECT round(extract(epoch FROM cooldown_until - now()))::integer AS value FROM provider_api_keys WHERE key_number = 6"
                ).map { (25...30).contains($0) } == true)
        }
    }

    @Test func aQuotaReachedExhaustsTheAccountUntilTheReset() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            let store = try database.store()
            _ = try store.setQuota(
                QuotaChange(requests: .perDay(3), tokens: .perDay(1000)), of: ProviderName(validating: "gemini"))
            #expect(try report(database, 1, 200) == "available")
            #expect(try report(database, 2, 429) == "cooling_down")  // a 429 is not counted against the quota
            #expect(try report(database, 2, 200) == "available")
            #expect(try report(database, 3, 200) == "exhausted")  // the account's third request
            #expect(
                try states(database) == [
                    "1:exhausted", "2:exhausted", "3:exhausted", "4:available", "5:available", "6:available",
                ])
            #expect(
                try database.values(
                    """
                    SELECT (detail ->> 'cause') || ':' || (detail ->> 'requests_today') AS value
                    FROM keyadmin.key_events WHERE action = 'account_exhausted'
                    """) == ["quota:3"])
            // Tokens: key 6 (no account) alone, at 1,000 tokens.
            #expect(try report(database, 6, 200, tokens: 999) == "available")
            #expect(try report(database, 6, 200, tokens: 1) == "exhausted")
            #expect(try states(database).suffix(3) == ["4:available", "5:available", "6:exhausted"])
            #expect(
                try database.values("SELECT action AS value FROM keyadmin.key_events WHERE key_number = 6 ORDER BY id")
                    .last == "key_exhausted")
        }
    }

    /// A quota set during the day counts what the accounts used before it.
    @Test func aQuotaSetDuringTheDayStartsFromTodaysCounts() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            for number in [1, 2, 1] { try report(database, number, 200) }
            _ = try database.store().setQuota(
                QuotaChange(requests: .perDay(4), tokens: .unchanged), of: ProviderName(validating: "gemini"))
            #expect(try report(database, 3, 200) == "exhausted")
        }
    }

    @Test func fourArgumentCallsByPositionAndByNameBehaveAsBefore() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            #expect(
                try database.values(
                    """
                    SELECT report_api_key_result('gemini', 'sk-use-6', 429, 60) AS value
                    UNION ALL SELECT report_api_key_result(p_provider_name => 'gemini', p_api_key => 'sk-use-6',
                                                           p_http_status => 200)
                    UNION ALL SELECT report_api_key_result(p_provider_name => 'gemini', p_api_key => 'sk-use-4',
                                                           p_http_status => 429, p_retry_after_seconds => 120)
                    UNION ALL SELECT report_api_key_result('gemini', 'sk-use-6', 403)
                    """) == ["cooling_down", "available", "cooling_down", "disabled"])
        }
    }

    @Test(arguments: [
        "report_api_key_result('gemini', 'sk-use-6', 200, NULL, -1)",
        "report_api_key_result('gemini', 'sk-use-6', 429, p_window => 'hour')",
        "report_api_key_result('gemini', 'sk-use-6', 99, p_tokens => 5)",
    ])
    func badValuesAreRefusedAndCountNothing(_ call: String) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            #expect(try database.refusal("SELECT \(call)")?.sqlState == SQLState(rawValue: "22023"))
            try? run(database, "SELECT \(call)")
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_usage") == 0)
            #expect(try states(database).allSatisfy { $0.hasSuffix("available") })
        }
    }

    /// The count of a report that changes nothing else commits asynchronously; a change later in
    /// the same transaction (a batch) makes the commit durable again.
    @Test func onlyACountAloneCommitsAsynchronously() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            let connection = try database.connect()
            func setting() throws -> String {
                try connection.query("SELECT current_setting('synchronous_commit') AS value", step: "read")
                    .singleRow().decode("value")
            }
            try connection.query("BEGIN", step: "batch")
            try connection.query("SELECT report_api_key_result('gemini', 'sk-use-6', 200)", step: "count only")
            #expect(try setting() == "off")
            try connection.query("SELECT report_api_key_result('gemini', 'sk-use-5', 429)", step: "a change")
            #expect(try setting() == "on")
            try connection.query("COMMIT", step: "done")
            #expect(try setting() == "on")
            // A transaction that wrote before the report keeps its durability.
            try connection.query("BEGIN", step: "a writer")
            try connection.query("UPDATE providers SET endpoint_url = NULL", step: "a write")
            try connection.query("SELECT report_api_key_result('gemini', 'sk-use-6', 200)", step: "count only")
            #expect(try setting() == "on")
            try connection.query("COMMIT", step: "done")
        }
    }

    /// Eight backends reporting at once on the same keys lose no count.
    @Test func concurrentReportsLoseNoCount() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            let failures = Locked(0)
            DispatchQueue.concurrentPerform(iterations: 8) { backend in
                do {
                    let connection = try database.connect()
                    for round in 0..<50 {
                        try connection.query(
                            "SELECT report_api_key_result('gemini', \("sk-use-\(1 + (backend + round) % 2)"), 200, NULL, 3)",
                            step: "report")
                    }
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
            #expect(failures.withLock { $0 } == 0)
            #expect(
                try database.values(
                    "SELECT sum(succeeded) || ',' || sum(tokens) AS value FROM keyadmin.key_usage") == ["400,1200"])
        }
    }
}

extension UsageTests {
    /// 429s on the keys of one account from eight backends at once: each rests the whole account,
    /// none waits for another's keys (no deadlock, no lock timeout), and every one is counted.
    @Test func concurrent429sOnOneAccountNeverDeadlock() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try seed(database)
            try run(database, "UPDATE provider_api_keys SET account = 'alpha'")
            let failures = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { backend in
                do {
                    let connection = try database.connect()
                    try connection.query("SET lock_timeout = '5s'", step: "a limit")
                    for round in 0..<40 {
                        try connection.query(
                            """
                            SELECT report_api_key_result('gemini', \("sk-use-\(1 + (backend * 7 + round) % 6)"), 429,
                                                         \(1 + round % 50))
                            """, step: "report")
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            #expect(try database.integer("SELECT sum(rate_limited) AS value FROM keyadmin.key_usage") == 320)
            #expect(try states(database).allSatisfy { $0.hasSuffix("cooling_down") })
        }
    }
}
