import Foundation
import Postgres
import TestSupport
import Testing

/// The lifecycle commands through the built binary: states at a glance, in JSON, filtered.
@Suite struct LifecycleCommandTests {

    /// A cooldown that ends on another day shows its date, not only a time that reads as today's.
    @Test func aCooldownEndingTomorrowShowsItsDate() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            _ = try keyadmin(database, ["--add-key", "openai", "sk-lifecycle-later-0001"])
            _ = try keyadmin(database, ["--add-key", "openai", "sk-lifecycle-later-0002"])
            try database.connect().query(
                """
                SELECT report_api_key_result('openai', 'sk-lifecycle-later-0001', 429, 86400),
                       report_api_key_result('openai', 'sk-lifecycle-later-0002', 429, 600)
                """, step: "two cooldowns")
            let (today, tomorrow) =
                try database.values(
                    """
                    SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' '
                           || to_char((now() + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS value
                    """
                ).first.flatMap { $0 }.map { ($0.prefix(10), $0.suffix(10)) } ?? ("", "")
            let list = try keyadmin(database, ["--list"])
            #expect(list.stdout.contains("cooling down until \(tomorrow)T"), "\(list.stdout)")
            // Ending today (unless today ends within the ten minutes): the time alone.
            let endsToday = try database.values(
                "SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day' > (now() AT TIME ZONE 'UTC') + interval '600 s')::text AS value"
            )
            if endsToday == ["true"] {
                #expect(!list.stdout.contains("cooling down until \(today)T"), "\(list.stdout)")
            }
        }
    }

    @Test func statesAreSetShownFilteredAndCleared() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let keys = (1...5).map { "sk-lifecycle-cli-000\($0)" }
            let bulk = try keyadmin(
                database, ["--add-bulk", "openai", "--label", "team-a", "--expires", "2099-12-31"],
                stdin: keys.joined(separator: "\n"))
            #expect(bulk.status == 0, "\(bulk.stderr)")
            let disabled = try keyadmin(database, ["--disable-key", "openai", "1", "--reason", "revoked upstream"])
            #expect(disabled.result == "disabled key #1 of openai (sk-li…0001); --enable-key openai 1 undoes it\n")
            #expect(
                try keyadmin(database, ["--set-expiry", "openai", "2", "2020-01-01T00:00:00Z", "--force"]).status == 0)
            #expect(try keyadmin(database, ["--set-label", "openai", "3", "backup"]).status == 0)
            _ = try runTool([
                "psql", "-X", "-q", "-c", "SELECT report_api_key_result('openai', '\(keys[3])', 429, 300)",
                database.connectionString,
            ])

            let list = try keyadmin(database, ["--list"])
            #expect(
                list.stdout.contains("openai  (5 keys: 2 available, 1 cooling down, 1 disabled, 1 expired)"),
                "\(list.stdout)")
            #expect(list.stdout.contains("disabled: revoked upstream (by ops@test, "))
            #expect(list.stdout.contains("expired 2020-01-01T00:00:00Z"))
            #expect(list.stdout.contains("backup"))
            #expect(list.stdout.contains("cooling down until "))
            #expect(list.stdout.contains(", in 5 min (1 failure, last HTTP 429)"))
            #expect(list.stdout.contains("available, expires 2099-12-31T00:00:00Z"))

            let cooling = try keyadmin(database, ["--list", "--state", "cooling", "--json"])
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(cooling.stdout.utf8)) as? [String: Any])
            let provider = try #require((document["providers"] as? [[String: Any]])?.first)
            let listed = try #require(provider["keys"] as? [[String: Any]])
            #expect(listed.count == 1)
            #expect(listed.first?["number"] as? Int == 4)
            #expect(listed.first?["state"] as? String == "cooling_down")
            #expect(listed.first?["last_status"] as? Int == 429)
            #expect(listed.first?["consecutive_failures"] as? Int == 1)
            #expect(listed.first?["label"] as? String == "team-a")
            for field in ["reason", "expires_at", "cooldown_until", "last_reported_at", "disabled_at", "disabled_by"] {
                #expect(listed.first?.keys.contains(field) == true, "\(field)")
            }
            // Each field carries the key's own value, as the database holds it.
            func stored(_ column: SQLFragment, key number: Int) throws -> String? {
                try database.values(
                    """
                    SELECT to_char((\(column)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS value
                    FROM provider_api_keys WHERE key_number = \(number)
                    """
                ).first ?? nil
            }
            #expect(listed.first?["cooldown_until"] as? String == (try stored("cooldown_until", key: 4)))
            #expect(listed.first?["last_reported_at"] as? String == (try stored("last_reported_at", key: 4)))
            #expect(listed.first?["reason"] is NSNull)
            let disabledKey = try #require(try keysListed(database, state: "disabled").first)
            #expect(disabledKey["reason"] as? String == "revoked upstream")
            #expect(disabledKey["disabled_by"] as? String == "ops@test")
            #expect(disabledKey["disabled_at"] as? String == (try stored("disabled_at", key: 1)))
            #expect(disabledKey["disabled_automatically"] as? Bool == false)
            #expect(disabledKey["cooldown_until"] is NSNull)
            let expiredKey = try #require(try keysListed(database, state: "expired").first)
            #expect(expiredKey["expires_at"] as? String == "2020-01-01T00:00:00Z")
            #expect(
                (provider["states"] as? [String: Int]) == [
                    "available": 2, "cooling_down": 1, "exhausted": 0, "disabled": 1, "expired": 1,
                ])

            // A new key under a number starts available and keeps its label.
            #expect(try keyadmin(database, ["--update-key", "openai", "1", "sk-lifecycle-cli-0011"]).status == 0)
            let one = try keyadmin(database, ["--list", "--state", "disabled"])
            #expect(one.stdout.contains("no keys in that state"))
            #expect(
                try keyadmin(database, ["--enable-key", "openai", "4"]).result.hasPrefix("enabled key #4 of openai"))
            #expect(try keyadmin(database, ["--set-expiry", "openai", "2", "never"]).status == 0)
            #expect(try keyadmin(database, ["--list"]).stdout.contains("(5 keys, all available)"))
        }
    }

    /// The keys `--list --state STATE --json` shows, for the first provider.
    func keysListed(_ database: TestDatabase, state: String) throws -> [[String: Any]] {
        let output = try keyadmin(database, ["--list", "--state", state, "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        let provider = (document?["providers"] as? [[String: Any]])?.first
        return provider?["keys"] as? [[String: Any]] ?? []
    }

    @Test func badLifecycleInputIsRefusedWithoutEchoAndChangesNothing() throws {
        let key = "sk-proj-NoEchoNoEcho0123456789AbCd"
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            _ = try keyadmin(database, ["--add-key", "openai", "sk-lifecycle-bad-0001"])
            for arguments in [
                ["--list", "--state", "broken"], ["--set-expiry", "openai", "1", "next week"],
                ["--set-expiry", "openai", "1", "2027-02-29"],
                ["--disable-key", "openai", "1", "--reason", key], ["--set-label", "openai", "1", key],
                ["--set-expiry", "openai", "1", key], ["--disable-key", key, "1"], ["--enable-key", "openai", key],
                ["--add-key", "openai", "sk-lifecycle-bad-0002", "--label", key],
            ] {
                let output = try keyadmin(database, arguments)
                #expect(output.status == 2, "\(arguments)")
                #expect(output.stderr.hasPrefix("error: ") && output.stderr.split(separator: "\n").count == 1)
                #expect(!(output.stdout + output.stderr).contains(key), "\(arguments)")
                #expect(!(output.stdout + output.stderr).contains("sk-proj-NoEcho"), "\(arguments)")
            }
            let missing = try keyadmin(database, ["--disable-key", "openai", "9"])
            #expect(missing.status == 3)
            #expect(
                try database.values(
                    "SELECT coalesce(label, '') || ':' || (disabled_at IS NULL)::text AS value FROM provider_api_keys")
                    == [":true"])
        }
    }
}
