@testable import KeyAdmin
import KeyStore
import Testing

@Suite struct ArgumentTests {
    func command(_ arguments: [String]) throws -> Command {
        try KeyAdminCommand.parse(arguments).command()
    }

    @Test func seedSpellingsParse() throws {
        let openai = try ProviderName(validating: "openai")
        #expect(try command(["--list"]) == .list(provider: nil))
        #expect(try command(["--list", "--provider", "OpenAI"]) == .list(provider: openai))
        #expect(try command(["--add-provider", "openai"]) == .addProvider(openai))
        #expect(try command(["--add-key", "openai", "sk-abc"]) == .addKey(openai, .argument("sk-abc")))
        #expect(try command(["--add-key", "openai", "-"]) == .addKey(openai, .standardInput))
        #expect(try command(["--add-bulk", "openai", "--file", "keys.txt"]) == .addBulk(openai, file: "keys.txt"))
        #expect(try command(["--update-key", "openai", "3", "sk-new"]) == .updateKey(openai, number: 3, .argument("sk-new")))
        #expect(try command(["--delete-key", "openai", "3"]) == .deleteKey(openai, number: 3))
        #expect(try command(["--delete-provider", "openai", "--yes"]) == .deleteProvider(openai, confirmed: true))
        #expect(try command(["--migrate", "--dry-run"]) == .migrate(dryRun: true))
        #expect(try command(["--get-key", "openai", "2"]) == .getKey(openai, number: 2))
        #expect(try command(["--random-key", "openai"]) == .randomKey(openai))
    }

    @Test(arguments: [
        [], ["--list", "--migrate"], ["--add-provider", "a", "--delete-provider", "b"],
        ["--add-key", "openai"], ["--add-key", "openai", "k", "extra"], ["--delete-key", "openai", "0"],
        ["--delete-key", "openai", "-3"], ["--delete-key", "openai", "three"], ["--delete-key", "openai", "99999999999"],
        ["--get-key", "openai", "1.5"], ["--add-provider", "bad name"], ["--file", "x", "--list"],
        ["--dry-run", "--list"], ["--reveal", "--get-key", "openai", "1"], ["--provider", "x", "--migrate"],
        ["--no-such-flag"], ["--list", "--lock-timeout", "-1"],
    ])
    func usageMistakesAreRefusedBeforeAnyIO(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try command(arguments) }
    }
}
