import Foundation
import TestSupport
import Testing

/// --set-tier, --set-weight, --tier and --weight through the built binary.
@Suite struct SelectionPolicyCommandTests {

    func withPool(_ body: (TestDatabase) throws -> Void) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            #expect(
                try keyadmin(
                    database, ["--add-bulk", "openai"], stdin: "sk-tier-key-000000001\nsk-tier-key-000000002\n"
                ).status == 0)
            #expect(
                try keyadmin(
                    database, ["--add-bulk", "openai", "--tier", "2", "--weight", "5"],
                    stdin: "sk-tier-key-000000003\nsk-tier-key-000000004\n"
                ).status == 0)
            try body(database)
        }
    }

    /// `--random-key --affinity` is the sticky pick backends make: the key get_sticky_api_key
    /// gives for that text, every time.
    @Test func anAffinityGivesTheStickyKey() throws {
        try TestDatabase.withSolo { database in
            for index in 3...8 {
                #expect(try keyadmin(database, ["--add-key", "solo", "sk-solo-key-000000000\(index)"]).status == 0)
            }
            for affinity in ["chat-1", "chat-2", "user 7", "x"] {
                let sticky = try database.values(
                    "SELECT get_sticky_api_key('solo', \(affinity)) AS value")
                for _ in 1...3 {
                    let drawn = try keyadmin(database, ["--random-key", "solo", "--affinity", affinity])
                    #expect(drawn.status == 0, "\(drawn.stderr)")
                    #expect(drawn.stdout == (sticky.first ?? nil).map { $0 + "\n" }, "\(affinity)")
                }
            }
            let json = try keyadmin(database, ["--random-key", "solo", "--affinity", "chat-1", "--json"])
            #expect(json.stdout.contains(#""sticky":true"#), "\(json.stdout)")
        }
    }

    /// `--set-tier`, `--set-weight`, `--set-label` and `--set-expiry` say the new value in JSON,
    /// not only whether it changed.
    @Test func settingsGiveTheirNewValueInJSON() throws {
        try TestDatabase.withSolo { database in
            let cases: [([String], String)] = [
                (["--set-tier", "solo", "1", "3"], #""tier":3"#),
                (["--set-weight", "solo", "1", "40"], #""weight":40"#),
                (["--set-label", "solo", "1", "team-a"], #""label":"team-a""#),
                (["--set-label", "solo", "1", ""], #""label":null"#),
                (["--set-expiry", "solo", "1", "2099-01-31T18:00:00+02:00"], #""expiry":"2099-01-31T16:00:00Z""#),
                (["--set-expiry", "solo", "1", "never"], #""expiry":"never""#),
            ]
            for (arguments, member) in cases {
                let run = try keyadmin(database, arguments + ["--json"])
                #expect(run.status == 0, "\(run.stderr)")
                #expect(run.stdout.contains(member), "\(arguments): \(run.stdout)")
            }
        }
    }

    @Test func tiersAndWeightsAreSetShownAndRecorded() throws {
        try withPool { database in
            let set = try keyadmin(database, ["--set-weight", "openai", "1", "3"])
            #expect(set.result == "key #1 of openai (sk-ti…0001) has weight 3 now\n", "\(set.stdout)\(set.stderr)")
            let moved = try keyadmin(database, ["--set-tier", "openai", "#2", "2"])
            #expect(moved.result == "key #2 of openai (sk-ti…0002) is in tier 2 now\n")
            #expect(try keyadmin(database, ["--set-tier", "openai", "2", "2"]).result.contains("nothing changed"))
            #expect(
                try keyadmin(database, ["--add-key", "openai", "sk-tier-key-000000005", "--tier", "3"]).status == 0)

            let list = try keyadmin(database, ["--list"])
            #expect(
                list.stdout.contains(
                    "  tier 1: 1 key, 1 available; tier 2: 3 keys, 3 available; tier 3: 1 key, 1 available"),
                "\(list.stdout)")
            #expect(list.stdout.contains("available [weight 3]"))
            #expect(list.stdout.contains("available [tier 2, weight 5]"))
            let lines = list.stdout.split(separator: "\n")
            #expect(lines.first { $0.hasPrefix("  #2") }?.hasSuffix("available [tier 2]") == true)

            let json = try keyadmin(database, ["--list", "--json"])
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let provider = try #require((document["providers"] as? [[String: Any]])?.first)
            let keys = try #require(provider["keys"] as? [[String: Any]])
            #expect(keys.map { $0["tier"] as? Int } == [1, 2, 2, 2, 3])
            #expect(keys.map { $0["weight"] as? Int } == [3, 1, 5, 5, 1])
            #expect((provider["tiers"] as? [[String: Int]])?.first == ["tier": 1, "key_count": 1, "available": 1])

            let history = try keyadmin(database, ["--history", "--limit", "3"])
            let events = history.stdout.split(separator: "\n")
            #expect(
                events.contains { $0.contains("tier set  openai #2") && $0.contains("  tier 2  ") }, "\(history.stdout)"
            )
            #expect(events.contains { $0.contains("weight set  openai #1") && $0.contains("  weight 3  ") })
        }
    }

    @Test(arguments: [
        ["--set-weight", "openai", "1", "0"], ["--set-weight", "openai", "1", "1001"],
        ["--set-tier", "openai", "1", "10"], ["--set-tier", "openai", "1", "0"],
        ["--set-weight", "openai", "sk-proj-Qx81mZpL0aVt7Rw2Kc9e", "3"],
        ["--set-tier", "openai", "1", "sk-proj-Qx81mZpL0aVt7Rw2Kc9e"],
        ["--add-key", "openai", "sk-tier-key-000000009", "--weight", "1.5"],
        ["--add-bulk", "openai", "--tier", "nine"],
    ])
    func badTiersAndWeightsAreRefusedAndChangeNothing(_ arguments: [String]) throws {
        try withPool { database in
            let before = try database.values(
                "SELECT key_number || ':' || tier || ':' || weight AS value FROM provider_api_keys ORDER BY 1")
            let output = try keyadmin(database, arguments, stdin: "sk-tier-key-000000010\n")
            #expect(output.status == 2, "\(output.stderr)")
            #expect(output.stderr.split(separator: "\n").count == 1)
            #expect(!output.stderr.contains("Qx81mZ"))
            #expect(
                try database.values(
                    "SELECT key_number || ':' || tier || ':' || weight AS value FROM provider_api_keys ORDER BY 1")
                    == before)
        }
    }

    @Test func theDoctorSaysWhenAPoolRunsOnItsBackups() throws {
        try withPool { database in
            #expect(try keyadmin(database, ["--doctor"]).stdout.contains("backups") == false)
            _ = try keyadmin(database, ["--disable-key", "openai", "1"])
            _ = try keyadmin(database, ["--disable-key", "openai", "2"])
            let doctor = try keyadmin(database, ["--doctor"])
            #expect(
                doctor.stdout.contains(
                    "warn  pool health: openai: tier 1 has no available key: tier 2 serves (the pool is on its backups)"
                ),
                "\(doctor.stdout)")
            let sticky = try runPsqlCommand("SELECT get_sticky_api_key('openai', 'chat-42')", on: database)
            #expect(sticky.contains("sk-tier-key-000000003") || sticky.contains("sk-tier-key-000000004"), "\(sticky)")
        }
    }
}
