import Foundation
import Postgres
import TestSupport
import Testing

/// A key or pool that exists but cannot give a key says why, and exits 3.
@Suite struct UnusableKeyMessageTests {
    @Test func getKeySaysWhyAKeyCannotBeUsed() throws {
        try TestDatabase.withSolo { database in
            _ = try keyadmin(database, ["--disable-key", "solo", "1", "--reason", "revoked by hand"])
            let disabled = try keyadmin(database, ["--get-key", "solo", "1"])
            #expect(disabled.status == 3)
            #expect(
                disabled.error.hasPrefix("error: key #1 of solo is disabled (revoked by hand, by ops@test, 20"),
                "\(disabled.stderr)")
            #expect(disabled.error.hasSuffix("Z) (keyadmin --enable-key solo 1)\n"), "\(disabled.stderr)")

            #expect(try keyadmin(database, ["--set-expiry", "solo", "2", "2020-01-01", "--force"]).status == 0)
            let expired = try keyadmin(database, ["--get-key", "solo", "2"])
            #expect(expired.status == 3)
            #expect(
                expired.error.hasPrefix("error: key #2 of solo expired at 2020-01-01T00:00:00Z (keyadmin --set-expiry"))
            // An expiry to the microsecond ('now') is shown to the second it began, as listings show it.
            #expect(try keyadmin(database, ["--set-expiry", "solo", "2", "now"]).status == 0)
            let listed = try database.values(
                "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS value FROM provider_api_keys WHERE key_number = 2"
            )
            let now = try keyadmin(database, ["--get-key", "solo", "2"])
            #expect(
                now.error.hasPrefix("error: key #2 of solo expired at \(listed.first.flatMap { $0 } ?? "?") ("),
                "\(now.stderr)")

            let missing = try keyadmin(database, ["--get-key", "solo", "7"])
            #expect(missing.status == 3)
            #expect(missing.error.hasPrefix("error: no key #7 for provider \"solo\""))
        }
    }

    @Test func getKeySaysAKeyWasDisabledAutomatically() throws {
        try TestDatabase.withSolo { database in
            _ = try runPsqlCommand("SELECT report_api_key_result('solo', 'sk-solo-key-0000000001', 401)", on: database)
            let output = try keyadmin(database, ["--get-key", "solo", "1"])
            #expect(output.status == 3)
            #expect(
                output.error.hasPrefix("error: key #1 of solo was disabled automatically (HTTP 401 reported at "),
                "\(output.stderr)")
        }
    }

    @Test func randomKeySaysWhyNoKeyIsAvailable() throws {
        try TestDatabase.withSolo { database in
            _ = try keyadmin(database, ["--disable-key", "solo", "1"])
            _ = try keyadmin(database, ["--set-expiry", "solo", "2", "now"])
            let output = try keyadmin(database, ["--random-key", "solo"])
            #expect(output.status == 3)
            #expect(
                output.error.hasPrefix("error: provider \"solo\" has no available key: 1 disabled, 1 expired"),
                "\(output.stderr)")

            _ = try keyadmin(database, ["--add-provider", "empty"])
            let empty = try keyadmin(database, ["--random-key", "empty"])
            #expect(empty.status == 3)
            #expect(empty.error.hasPrefix("error: provider \"empty\" has no keys"))
        }
    }
}
