import Foundation
import TestSupport
import Testing

@testable import KeyAdmin

/// One exit code per meaning, whichever command meets it: a provider or key that does not
/// exist, or a key that exists but cannot be used, is 3 everywhere; a mistake in the
/// arguments is 2 and changes nothing.
@Suite struct ExitCodeTests {
    /// Every command that names a provider, with the values it needs besides it.
    static func naming(_ provider: String, key number: String) -> [[String]] {
        [
            ["--list", "--provider", provider], ["--add-key", provider, "sk-exit-code-key-00000009"],
            ["--add-bulk", provider], ["--update-key", provider, number, "sk-exit-code-key-00000009"],
            ["--delete-key", provider, number, "--yes"], ["--get-key", provider, number],
            ["--disable-key", provider, number], ["--enable-key", provider, number],
            ["--set-label", provider, number, "note"], ["--set-expiry", provider, number, "never"],
            ["--set-tier", provider, number, "2"], ["--set-weight", provider, number, "3"],
            ["--check", provider, "--key", number], ["--set-account", provider, number, "org-a"],
            ["--usage", provider, "--key", number],
        ]
    }

    @Test func whatDoesNotExistIsThreeForEveryCommand() throws {
        try TestDatabase.withSolo { database in
            #expect(try keyadmin(database, ["--set-endpoint", "solo", "http://127.0.0.1:9/v1"]).status == 0)
            let ghostCommands =
                Self.naming("ghost", key: "1") + [
                    ["--random-key", "ghost"], ["--delete-provider", "ghost", "--yes"],
                    ["--set-endpoint", "ghost", "https://api.example.com/v1"], ["--check", "ghost"],
                    ["--history", "--provider", "ghost"], ["--set-reset", "ghost", "UTC"],
                    ["--set-quota", "ghost", "--requests-per-day", "10"], ["--usage", "ghost"],
                ]
            for arguments in ghostCommands {
                let run = try keyadmin(database, arguments, stdin: "sk-exit-code-key-00000009\n")
                #expect(run.status == 3, "\(arguments): \(run.stderr)")
                #expect(run.error.contains("ghost"), "\(arguments): \(run.stderr)")
            }
            // Key numbers that were never given: every command that takes one (not --add-key,
            // which gives it).
            for arguments in Self.naming("solo", key: "9")
            where !["--list", "--add-key", "--add-bulk"].contains(arguments[0]) {
                let run = try keyadmin(database, arguments)
                #expect(run.status == 3, "\(arguments): \(run.stderr)")
                #expect(run.error.contains("#9"), "\(arguments): \(run.stderr)")
            }
            #expect(try database.values("SELECT count(*)::text AS value FROM provider_api_keys") == ["2"])
        }
    }

    @Test func aKeyThatCannotBeUsedIsThreeWhetherFetchedOrChecked() throws {
        try TestDatabase.withSolo { database in
            #expect(try keyadmin(database, ["--set-endpoint", "solo", "http://127.0.0.1:9/v1"]).status == 0)
            #expect(try keyadmin(database, ["--disable-key", "solo", "1"]).status == 0)
            #expect(try keyadmin(database, ["--set-expiry", "solo", "2", "now"]).status == 0)
            for number in ["1", "2"] {
                for arguments in [["--get-key", "solo", number], ["--check", "solo", "--key", number]] {
                    let run = try keyadmin(database, arguments)
                    #expect(run.status == 3, "\(arguments): \(run.stderr)")
                    #expect(run.error.hasPrefix("error: key #\(number) of solo "), "\(arguments): \(run.stderr)")
                }
            }
            let random = try keyadmin(database, ["--random-key", "solo"])
            #expect(random.status == 3, "\(random.stderr)")
        }
    }

    /// The codes come from one table: each category of error has its code, and --help and the
    /// README list every one (DocumentationTests).
    @Test func eachErrorCategoryHasItsOwnCode() {
        let codes = [ExitStatus(.failure), ExitStatus(.usage), ExitStatus(.notFound), ExitStatus(.busy)]
        #expect(codes.map(\.rawValue) == [1, 2, 3, 4])
    }
}
