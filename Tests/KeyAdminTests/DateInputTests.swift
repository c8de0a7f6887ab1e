import Foundation
import Postgres
import TestSupport
import Testing

/// Dates and times given on the command line: UTC whatever the time zone, a past expiry only with --force.
@Suite struct DateInputTests {
    @Test func pastExpiriesNeedForceAndNowExpiresAtOnce() throws {
        try TestDatabase.withSolo { database in
            for arguments in [
                ["--set-expiry", "solo", "1", "2020-01-01"],
                ["--set-expiry", "solo", "1", "1969-07-20"],
                ["--add-key", "solo", "sk-solo-key-0000000003", "--expires", "2020-01-01T00:00:00Z"],
                ["--add-bulk", "solo", "--expires", "2001-01-01"],
            ] {
                let output = try keyadmin(database, arguments, stdin: "sk-solo-key-0000000004\n")
                #expect(output.status == 2, "\(arguments)")
                #expect(output.error.contains("is in the past"), "\(output.stderr)")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 2)
            #expect(
                try database.values("SELECT expires_at::text AS value FROM provider_api_keys WHERE key_number = 1") == [
                    nil
                ])

            let now = try keyadmin(database, ["--set-expiry", "solo", "1", "now"])
            #expect(now.status == 0, "\(now.stderr)")
            #expect(try keyadmin(database, ["--list", "--state", "expired", "--json"]).stdout.contains("\"number\":1"))
            #expect(try keyadmin(database, ["--set-expiry", "solo", "2", "1969-07-20", "--force"]).status == 0)
        }
    }

    /// Times are read and echoed in UTC whatever the machine's and the session's time zones.
    @Test func datesAreUTCWhateverTheTimeZones() throws {
        try TestDatabase.withSolo { database in
            let zones = ["TZ": "America/New_York", "PGTZ": "Asia/Tokyo"]
            let bare = try keyadmin(database, ["--set-expiry", "solo", "1", "2099-12-31"], environment: zones)
            #expect(
                bare.result == "key #1 of solo (sk-so…0001) now expires at 2099-12-31T00:00:00Z\n", "\(bare.stdout)")
            let offset = try keyadmin(
                database, ["--set-expiry", "solo", "2", "2099-06-01T02:30+02:00"], environment: zones)
            #expect(offset.result.contains("now expires at 2099-06-01T00:30:00Z"), "\(offset.stdout)")
            #expect(
                try database.values(
                    "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS value FROM provider_api_keys ORDER BY key_number"
                ) == ["2099-12-31 00:00", "2099-06-01 00:30"])
            let events = try keyadmin(
                database, ["--history", "--since", "2000-01-01", "--limit", "1"], environment: zones)
            #expect(events.result.contains("expires 2099-06-01T00:30:00Z"), "\(events.stdout)")
        }
    }
}
