import Foundation
import Postgres
import TestSupport
import Testing

/// No argument is quoted back in an error unless it validated as what it was meant to be.
@Suite struct NothingQuotedBackTests {
    @Test func noArgumentIsQuotedBackUnlessItValidated() throws {
        let key = "sk-proj-Qx81mZpL0aVt7Rw2Kc9e"
        try TestDatabase.withSolo { database in
            for arguments in [
                ["--add-bulk", "solo", "--file", key],
                ["--list", "--\(key)"],
                ["--list", "--sk-proj-abc"],
            ] {
                let output = try keyadmin(database, arguments)
                #expect(output.status == 2, "\(arguments)")
                #expect(!output.stderr.contains(key) && !output.stderr.contains("sk-proj-abc"), "\(output.stderr)")
            }
            let url = try KeyAdminProcess.run(["--database-url", key, "--list"])
            #expect(url.status == 2)
            #expect(!url.stderr.contains(key), "\(url.stderr)")
            // libpq quotes the text it cannot parse: the part that is not a keyword is left out.
            let garbled = try KeyAdminProcess.run(["--database-url", "host=localhost \(key)", "--list"])
            #expect(garbled.status != 0)
            #expect(!garbled.stderr.contains(key), "\(garbled.stderr)")
            #expect(garbled.stderr.contains("cannot use the connection string"))
        }
    }

    @Test func namesShapedLikeCredentialsNeedForce() throws {
        let uuid = "6f1c2e3a-9b8d-4c1e-8f2a-1234567890ab"
        try TestDatabase.with { (database: TestDatabase) throws in
            for name in [uuid, "sk-live-team"] {
                let refused = try keyadmin(database, ["--add-provider", name])
                #expect(refused.status == 2)
                #expect(!refused.stderr.contains(name), "\(refused.stderr)")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM providers") == 0)
            #expect(try keyadmin(database, ["--add-provider", uuid, "--force"]).status == 0)
            let missing = try keyadmin(database, ["--list", "--provider", "6f1c2e3a-9b8d-4c1e-8f2a-0000000000ff"])
            #expect(missing.status == 3)
            #expect(missing.error.hasPrefix("error: no provider by that name"), "\(missing.stderr)")
        }
    }

    @Test func aKeyShapedActorIsRefusedNotReplaced() throws {
        try TestDatabase.withSolo { database in
            let output = try keyadmin(
                database, ["--disable-key", "solo", "1"],
                environment: ["KEYADMIN_ACTOR": "sk-proj-Qx81mZpL0aVt7Rw2Kc9e"])
            #expect(output.status == 2)
            #expect(output.stderr.contains("KEYADMIN_ACTOR is not a usable actor name"), "\(output.stderr)")
            #expect(!output.stderr.contains("Qx81mZ"))
            #expect(
                try database.values("SELECT disabled_at::text AS value FROM provider_api_keys WHERE key_number = 1")
                    == [nil])
        }
    }
}
