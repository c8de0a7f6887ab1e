import Foundation
import Postgres
import TestSupport
import Testing

/// The audit trail as operators read and prune it: --history, --prune-history, deletion events.
@Suite struct AuditTrailCommandTests {
    @Test func pruningRefusesATimeToComeAndAsksOnATerminal() throws {
        try TestDatabase.withSolo { database in
            let events = try database.integer("SELECT count(*) AS value FROM keyadmin.key_events")
            for confirmation in [[], ["--yes"]] {
                let future = try keyadmin(database, ["--prune-history", "--before", "2999-01-01"] + confirmation)
                #expect(future.status == 2)
                #expect(future.error.contains("later than now"), "\(future.stderr)")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_events") == events)

            guard TerminalSession.isAvailable else { return }
            // A cutoff after every event so far, and not later than now (whole seconds, rounded down).
            usleep(1_100_000)
            let now = try #require(
                try database.values(
                    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS value"
                ).first ?? nil)
            let declined = try TerminalSession.run(
                ["--database-url", database.connectionString, "--prune-history", "--before", now],
                answers: [("[y/N] ", "n")])
            #expect(declined.status == 2)
            #expect(declined.output.contains("Delete \(events ?? 0) events before"), "\(declined.output)")
            #expect(try database.integer("SELECT count(*) AS value FROM keyadmin.key_events") == events)
            let accepted = try TerminalSession.run(
                ["--database-url", database.connectionString, "--prune-history", "--before", now],
                answers: [("[y/N] ", "y")])
            #expect(accepted.status == 0, "\(accepted.output)")
            #expect(
                try database.integer(
                    "SELECT count(*) AS value FROM keyadmin.key_events WHERE action <> 'history_pruned'") == 0)
        }
    }

    /// A prune's event says how many went and before when, in UTC with Z, in text and JSON.
    @Test func aPruneIsShownWithItsCountAndCutOff() throws {
        try TestDatabase.withSolo { database in
            let events = try #require(try database.integer("SELECT count(*) AS value FROM keyadmin.key_events"))
            try database.connect().query(
                "UPDATE keyadmin.key_events SET occurred_at = '2020-01-01T00:00:00Z'", step: "aging the events")
            let pruned = try keyadmin(database, ["--prune-history", "--before", "2021-06-01T12:00:00+02:00", "--yes"])
            #expect(pruned.status == 0, "\(pruned.stderr)")
            #expect(pruned.result.hasPrefix("deleted \(events) events before 2021-06-01T10:00:00Z"), "\(pruned.stdout)")
            let text = try keyadmin(database, ["--history", "--limit", "1"])
            #expect(
                text.result.contains("history pruned  \(events) events before 2021-06-01T10:00:00Z"), "\(text.stdout)")
            let json = try keyadmin(database, ["--history", "--limit", "1", "--json"])
            #expect(json.stdout.contains(#""before": "2021-06-01T10:00:00Z""#), "\(json.stdout)")
        }
    }

    /// A replaced key says when in --list (text and JSON), and its history event names the
    /// key it replaced by fingerprint as well as the new one.
    @Test func aReplacedKeySaysWhenAndWhatItReplaced() throws {
        try TestDatabase.withSolo { database in
            let before = try keyadmin(database, ["--list", "--json"])
            #expect(before.stdout.contains(#""replaced_at":null"#), "\(before.stdout)")
            let old = try #require(
                try database.values(
                    "SELECT keyadmin.key_fingerprint(api_key) AS value FROM provider_api_keys WHERE key_number = 1"
                ).first ?? nil)
            #expect(try keyadmin(database, ["--update-key", "solo", "1", "sk-solo-key-replaced-0001"]).status == 0)
            let text = try keyadmin(database, ["--list"])
            #expect(text.stdout.contains("available [replaced 20"), "\(text.stdout)")
            let json = try keyadmin(database, ["--list", "--json"])
            #expect(json.stdout.contains(#""replaced_at":"20"#), "\(json.stdout)")
            // An UPDATE that leaves the key as it is (a label) does not count as a replacement.
            #expect(try keyadmin(database, ["--set-label", "solo", "2", "x"]).status == 0)
            #expect(
                try database.values("SELECT count(replaced_at)::text AS value FROM provider_api_keys") == ["1"])
            let history = try keyadmin(database, ["--history", "--limit", "2"])
            #expect(history.stdout.contains("key replaced  solo #1 ["), "\(history.stdout)")
            #expect(history.stdout.contains("was [\(old)]"), "\(history.stdout)")
        }
    }

    @Test func historyShowsWhatChanged() throws {
        try TestDatabase.withSolo { database in
            _ = try keyadmin(database, ["--set-label", "solo", "1", "team-a"])
            _ = try keyadmin(database, ["--set-expiry", "solo", "1", "2099-01-31T18:00:00+02:00"])
            let history = try keyadmin(database, ["--history", "--limit", "2"])
            let lines = history.result.split(separator: "\n").map(String.init)
            #expect(lines.count == 2)
            #expect(lines[0].contains("expiry set  solo #1"))
            #expect(lines[0].contains("expires 2099-01-31T16:00:00Z"), "\(lines[0])")
            #expect(lines[1].contains("label \"team-a\""), "\(lines[1])")

            #expect(try keyadmin(database, ["--delete-provider", "solo", "--yes"]).status == 0)
            let deletion = try keyadmin(database, ["--history", "--provider", "solo", "--key", "2", "--limit", "1"])
            #expect(deletion.result.contains("provider deleted  solo with its 2 keys"), "\(deletion.stdout)")
        }
    }

    /// A provider of many keys deleted is one event of bounded size: a count, the number range
    /// and 100 fingerprints.
    @Test func aLargeDeletionIsASmallEvent() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "big"])
            let keys = (1...250).map { "sk-big-pool-key-\($0)-abcdef" }.joined(separator: "\n")
            #expect(try keyadmin(database, ["--add-bulk", "big"], stdin: keys).status == 0)
            #expect(try keyadmin(database, ["--delete-provider", "big", "--yes"]).status == 0)
            let detail = try database.values(
                """
                SELECT jsonb_array_length(detail -> 'fingerprints') || ' ' || (detail ->> 'fingerprints_omitted')
                       || ' ' || (detail ->> 'key_count') || ' ' || (detail ->> 'first_number') || '-'
                       || (detail ->> 'last_number') AS value
                FROM keyadmin.key_events WHERE action = 'provider_deleted'
                """)
            #expect(detail == ["100 150 250 1-250"])
            let loaded = try database.values(
                "SELECT jsonb_array_length(detail -> 'fingerprints') AS value FROM keyadmin.key_events WHERE action = 'keys_added'"
            )
            #expect(loaded == ["100"])
            let json = try keyadmin(database, ["--history", "--limit", "3", "--json"])
            #expect(json.stdout.utf8.count < 10_000, "\(json.stdout.utf8.count) bytes")
        }
    }

    @Test func disablingAgainWithANewReasonChangesTheReasonAndRecordsIt() throws {
        try TestDatabase.withSolo { database in
            _ = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "suspicious"])
            let again = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "leaked on github"])
            #expect(again.status == 0)
            #expect(again.result.contains("was already disabled; its reason is the new one now"), "\(again.stdout)")
            #expect(
                try database.values("SELECT disabled_reason AS value FROM provider_api_keys WHERE key_number = 1")
                    == ["leaked on github"])
            #expect(
                try database.values(
                    "SELECT reason || ' / ' || (detail ->> 'previous_reason') AS value FROM keyadmin.key_events WHERE action = 'disable_reason_set'"
                ) == ["leaked on github / suspicious"])
            let same = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "leaked on github"])
            #expect(same.result.contains("nothing changed"))
        }
    }
}
