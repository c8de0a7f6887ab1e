import Foundation
import Postgres
import TestSupport
import Testing

/// The commands of migration 033: accounts, reset zones, quotas, `--usage`, `--metrics`,
/// `--prune-usage`, and the `exhausted` state where people see states.
@Suite struct UsageCommandTests {
    /// Provider gemini with keys 1-3 in account alpha (added with --account) and 4 in none, and
    /// some usage: key 1 three 2xx (30 tokens) and a 429, key 4 one 503.
    func seeded(_ body: (TestDatabase) throws -> Void) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            #expect(try keyadmin(database, ["--add-provider", "gemini"]).status == 0)
            #expect(
                try keyadmin(
                    database, ["--add-bulk", "gemini", "--account", "alpha"],
                    stdin: "sk-gem-usage-0001\nsk-gem-usage-0002\nsk-gem-usage-0003\n"
                ).status == 0)
            #expect(try keyadmin(database, ["--add-key", "gemini", "sk-gem-usage-0004"]).status == 0)
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        SELECT report_api_key_result('gemini', 'sk-gem-usage-0001', 200, p_tokens => 10)
                        FROM generate_series(1, 3);
                        SELECT report_api_key_result('gemini', 'sk-gem-usage-0001', 429, 1);
                        SELECT report_api_key_result('gemini', 'sk-gem-usage-0004', 503);
                        """), step: "usage")
            try body(database)
        }
    }

    func json(_ output: KeyAdminProcess.Output) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
    }

    @Test func accountsAreSetShownAndCleared() throws {
        try seeded { database in
            #expect(
                try database.values("SELECT coalesce(account, '-') AS value FROM provider_api_keys ORDER BY key_number")
                    == ["alpha", "alpha", "alpha", "-"])
            let moved = try keyadmin(database, ["--set-account", "gemini", "4", "project-beta"])
            #expect(
                moved.status == 0
                    && moved.stdout.contains("key #4 of gemini (sk-ge…0004) is in account project-beta now"))
            #expect(
                try keyadmin(database, ["--set-account", "gemini", "4", "project-beta"]).stdout.contains("already"))
            #expect(try keyadmin(database, ["--list"]).stdout.contains("[account project-beta]"))
            #expect(try keyadmin(database, ["--set-account", "gemini", "4", "none"]).status == 0)
            #expect(try database.values("SELECT account AS value FROM provider_api_keys WHERE key_number = 4") == [nil])
            // A key where the account goes: refused, not echoed, nothing changed.
            let refused = try keyadmin(
                database, ["--set-account", "gemini", "4", "sk-proj-abcdefghijklmnop0123456789"])
            #expect(refused.status == 2)
            #expect(!refused.stderr.contains("abcdefghijklmnop") && !refused.stdout.contains("abcdefghijklmnop"))
            #expect(try database.values("SELECT account AS value FROM provider_api_keys WHERE key_number = 4") == [nil])
            let history = try keyadmin(database, ["--history", "--key", "4"]).stdout
            #expect(history.contains("account set") && history.contains("account project-beta"))
        }
    }

    @Test func resetZonesAreServerNamesAndQuotasAreWholeNumbers() throws {
        try seeded { database in
            #expect(
                try keyadmin(database, ["--set-reset", "gemini", "europe/berlin"]).stdout.contains(
                    "reset at midnight Europe/Berlin"))
            #expect(
                try keyadmin(database, ["--set-reset", "gemini", "default"]).stdout.contains(
                    "midnight America/Los_Angeles (built in)"))
            for zone in ["Mars/Olympus_Mons", "PST8PDT+", "posix/Europe/Berlin"] {
                let refused = try keyadmin(database, ["--set-reset", "gemini", zone])
                #expect(refused.status == 2, "\(zone): \(refused.stderr)")
                #expect(!refused.stderr.contains(zone))
            }
            #expect(try database.values("SELECT reset_zone AS value FROM providers") == [nil])
            let set = try keyadmin(database, ["--set-quota", "gemini", "--requests-per-day", "1,500", "--json"])
            #expect(try json(set)["requests_per_day"] as? Int == 1500)
            let tokens = try keyadmin(database, ["--set-quota", "gemini", "--tokens-per-day", "20000"])
            #expect(tokens.stdout.contains("1,500 requests and 20,000 tokens a day"), "\(tokens.stdout)")
            for bad in [["--requests-per-day", "0"], ["--tokens-per-day", "-5"], ["--requests-per-day", "lots"], []] {
                #expect(try keyadmin(database, ["--set-quota", "gemini"] + bad).status == 2, "\(bad)")
            }
            #expect(
                try keyadmin(database, ["--set-quota", "gemini", "--requests-per-day", "none"]).stdout.contains(
                    "20,000 tokens a day"))
            let events = try keyadmin(database, ["--history", "--provider", "gemini", "--limit", "5"]).stdout
            #expect(events.contains("quota set") && events.contains("reset zone set"))
        }
    }

    /// An exhausted account: its own state in --list (with the reset in the provider's zone and
    /// in UTC, and the account's count against its quota), a filter, a warning from
    /// --random-key, and a FAIL from --doctor.
    @Test func exhaustedKeysAreAStateOfTheirOwn() throws {
        try seeded { database in
            #expect(try keyadmin(database, ["--set-quota", "gemini", "--requests-per-day", "4"]).status == 0)
            try database.connect().execute(
                SQLScript(
                    trustedSQL: """
                        SELECT report_api_key_result('gemini', 'sk-gem-usage-0002', 200);
                        SELECT report_api_key_result('gemini', 'sk-gem-usage-0004', 429, p_window => 'day');
                        """), step: "exhaust")
            let reset = try #require(
                try database.values(
                    """
                    SELECT to_char(keyadmin.next_reset('America/Los_Angeles') AT TIME ZONE 'UTC', 'HH24:MI') AS value
                    """
                ).first ?? nil)
            let listed = try keyadmin(database, ["--list", "--state", "exhausted"])
            #expect(listed.status == 0)
            #expect(
                listed.stdout.contains("exhausted until 00:00 America/Los_Angeles (\(reset)Z), 4/4 requests today"),
                "\(listed.stdout)")
            #expect(listed.stdout.components(separatedBy: "exhausted until").count - 1 == 4)
            #expect(
                try keyadmin(database, ["--list", "--state", "available"]).stdout.contains("no keys in that state"))
            let drawn = try keyadmin(database, ["--random-key", "gemini"])
            #expect(drawn.status == 0)
            #expect(drawn.stderr.contains("no key of gemini is available: every enabled one is exhausted"))
            #expect(drawn.stderr.contains("exhausted until 00:00 America/Los_Angeles"))
            let doctor = try keyadmin(database, ["--doctor"])
            #expect(doctor.stdout.contains("FAIL  pool health: gemini: no available key (4 keys: 4 exhausted"))
            // An operator ends a rest early: the key is drawn again, and the history says so.
            let enabled = try keyadmin(database, ["--enable-key", "gemini", "4"])
            #expect(enabled.status == 0 && enabled.stdout.contains("exhaustion"), "\(enabled.stdout)")
            #expect(try keyadmin(database, ["--random-key", "gemini"]).stdout == "sk-gem-usage-0004\n")
            #expect(
                try database.values("SELECT action AS value FROM keyadmin.key_events ORDER BY id DESC LIMIT 1")
                    == ["exhaustion_cleared"])
            let json = try json(try keyadmin(database, ["--list", "--json"]))
            let provider = try #require((json["providers"] as? [[String: Any]])?.first)
            #expect((provider["states"] as? [String: Int])?["exhausted"] == 3)
            #expect(provider["reset_zone"] as? String == "America/Los_Angeles")
        }
    }

    @Test func usageIsAChartThroughAPipeInASCIIWithoutUTF8AndJSONBehindIt() throws {
        try seeded { database in
            let piped = try keyadmin(
                database, ["--usage", "gemini"], environment: ["LANG": "C.UTF-8", "LC_ALL": "", "LC_CTYPE": ""])
            #expect(piped.status == 0)
            let out = piped.stdout
            #expect(out.contains("gemini: requests per day, the last 14 days"))
            #expect(out.contains("█ 2xx  ▓ 429  ▒ 401/402/403  ░ 408/5xx  · other"))
            #expect(out.contains("5 requests, 30 tokens"))
            #expect(out.contains("total: 5 requests (3 2xx, 1 429, 1 408/5xx), 30 tokens"))
            #expect(out.contains("gemini #1 ["), "\(out)")
            #expect(out.contains("gemini alpha: 4 requests (3 2xx, 1 429), 30 tokens"))
            #expect(!out.contains("\u{1B}["), "no colour through a pipe")
            #expect(!out.contains("sk-gem-usage"), "no key material")
            // Today's bar: 2xx, then 429, then 408/5xx, in that order; no 401/402/403.
            let today = try #require(out.split(separator: "\n").last { $0.hasSuffix("  5 requests, 30 tokens") })
            #expect(today.contains("█▓") && today.contains("▓░") && !today.contains("▒"), "\(today)")
            let ascii = try keyadmin(
                database, ["--usage", "gemini"], environment: ["LANG": "C", "LC_ALL": "", "LC_CTYPE": ""]
            ).stdout
            #expect(ascii.contains("# 2xx  % 429  x 401/402/403  ! 408/5xx  . other"))
            #expect(!ascii.unicodeScalars.contains { !$0.isASCII }, "\(ascii)")
            let filtered = try keyadmin(database, ["--usage", "gemini", "--account", "alpha", "--days", "3"]).stdout
            #expect(filtered.contains("gemini account alpha: requests per day, the last 3 days"))
            #expect(!filtered.contains("gemini #4"))
            let document = try json(try keyadmin(database, ["--usage", "gemini", "--key", "4", "--json"]))
            let days = try #require(document["days"] as? [[String: Any]])
            #expect(days.count == 14)
            #expect(days.last?["failed"] as? Int == 1 && days.last?["requests"] as? Int == 1)
            #expect(document["exhausted_keys"] as? Int == 0)
            #expect(try keyadmin(database, ["--usage", "gemini", "--key", "9"]).status == 3)
            #expect(try keyadmin(database, ["--usage", "nosuch"]).status == 3)
            #expect(try keyadmin(database, ["--usage", "--key", "1"]).status == 2)
        }
    }

    @Test(.enabled(if: TerminalSession.isAvailable, "script(1) is not installed"))
    func usageOnATerminalHasColourUnlessNoColourIsSet() throws {
        try seeded { database in
            let arguments = ["--database-url", database.connectionString, "--usage", "gemini"]
            let coloured = try TerminalSession.run(arguments, answers: [], environment: ["LANG": "C.UTF-8"])
            #expect(coloured.status == 0)
            #expect(coloured.output.contains("\u{1B}[32m█"), "\(coloured.output)")
            let plain = try TerminalSession.run(
                arguments, answers: [], environment: ["LANG": "C.UTF-8", "NO_COLOR": "1"])
            #expect(!plain.output.contains("\u{1B}[3"))
            #expect(plain.output.contains("█ 2xx  ▓ 429"))
        }
    }

    /// `--metrics` read by Prometheus' own Python parser (prometheus_client): every family typed,
    /// the counts as reported, no key material; totals unchanged by --prune-usage.
    @Test func metricsAreReadByAPrometheusParserAndSurvivePruning() throws {
        try seeded { database in
            let metrics = try keyadmin(database, ["--metrics"])
            #expect(metrics.status == 0)
            #expect(!metrics.stdout.contains("database:") && !metrics.stdout.contains("sk-gem"))
            let file = FileManager.default.temporaryDirectory.appendingPathComponent(
                "keyadmin-\(UUID().uuidString).prom")
            try metrics.stdout.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let parsed = try runTool(["python3", "-c", Self.parser, file.path])
            #expect(parsed.status == 0, "\(parsed.output)")
            let samples = Set(parsed.output.split(separator: "\n").map(String.init))
            // No label of unbounded cardinality: provider, tier, state and outcome only.
            let labelNames = Set(
                samples.flatMap { sample in
                    sample.split(separator: " ", omittingEmptySubsequences: false)[2].split(separator: ",").map {
                        String($0.prefix { $0 != "=" })
                    }
                })
            #expect(labelNames.isSubset(of: ["provider", "tier", "state", "outcome"]), "\(labelNames)")
            #expect(
                samples.contains("keyadmin_keys gauge provider=gemini,state=available,tier=1 1"), "\(parsed.output)")
            #expect(samples.contains("keyadmin_keys gauge provider=gemini,state=cooling_down,tier=1 3"))
            #expect(samples.contains("keyadmin_requests counter outcome=success,provider=gemini 3"))
            #expect(samples.contains("keyadmin_requests counter outcome=rate_limited,provider=gemini 1"))
            #expect(samples.contains("keyadmin_requests counter outcome=failed,provider=gemini 1"))
            #expect(samples.contains("keyadmin_tokens counter provider=gemini 30"))
            #expect(samples.contains("keyadmin_exhausted_accounts gauge provider=gemini 0"))
            try database.connect().execute(
                SQLScript(trustedSQL: "UPDATE keyadmin.key_usage SET day = day - 40"), step: "age the usage")
            // A run sums the finished days once (keyadmin.usage_days), and the totals stay.
            #expect(try keyadmin(database, ["--metrics"]).stdout == metrics.stdout)
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.usage_days") == 1)
            #expect(try keyadmin(database, ["--metrics"]).stdout == metrics.stdout)
            let pruned = try keyadmin(
                database, ["--prune-usage", "--before", UTCTimeText.daysAgo(30), "--yes"])
            #expect(pruned.status == 0 && pruned.stdout.contains("deleted 2 key-days of usage"), "\(pruned.stdout)")
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_usage") == 0)
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.usage_days") == 0)
            #expect(try keyadmin(database, ["--metrics"]).stdout == metrics.stdout)
            #expect(try keyadmin(database, ["--history", "--limit", "1"]).stdout.contains("usage pruned"))
            #expect(try keyadmin(database, ["--metrics", "--json"]).status == 2)
        }
    }

    /// --prune-usage deletes only when confirmed: --yes, or y on a terminal; a pipe without --yes
    /// and a "n" change nothing.
    @Test func pruningUsageIsConfirmed() throws {
        try seeded { database in
            try database.connect().execute(
                SQLScript(trustedSQL: "UPDATE keyadmin.key_usage SET day = day - 40"), step: "age the usage")
            let cutoff = UTCTimeText.daysAgo(30)
            let piped = try keyadmin(database, ["--prune-usage", "--before", cutoff])
            #expect(piped.status == 2 && piped.stderr.contains("needs confirmation"), "\(piped.stderr)")
            #expect(try keyadmin(database, ["--prune-usage", "--before", "2999-01-01", "--yes"]).status == 2)
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_usage") == 2)
            guard TerminalSession.isAvailable else { return }
            let arguments = ["--database-url", database.connectionString, "--prune-usage", "--before", cutoff]
            let declined = try TerminalSession.run(arguments, answers: [("[y/N] ", "n")])
            #expect(declined.status == 2, "\(declined.output)")
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_usage") == 2)
            let accepted = try TerminalSession.run(arguments, answers: [("[y/N] ", "y")])
            #expect(accepted.status == 0, "\(accepted.output)")
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_usage") == 0)
        }
    }

    /// For each sample: name, type, sorted labels, value.
    static let parser = """
        import sys
        from prometheus_client.parser import text_string_to_metric_families
        for family in text_string_to_metric_families(open(sys.argv[1]).read()):
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                print(family.name, family.type, labels, sample.value)
        """
}

/// A date `days` days ago, as --before takes it.
enum UTCTimeText {
    static func daysAgo(_ days: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: Date(timeIntervalSinceNow: -Double(days) * 86_400))
    }
}
