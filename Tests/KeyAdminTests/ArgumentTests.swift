@testable import KeyAdmin
import KeyStore
import Testing

@Suite struct ArgumentTests {
    func command(_ arguments: [String]) throws -> Command {
        guard case .run(let invocation) = try Invocation.parse(arguments) else { throw UsageError("not a command") }
        return invocation.command
    }

    @Test func seedSpellingsParse() throws {
        let openai = try ProviderName(validating: "openai")
        #expect(try command(["--list"]) == .list(provider: nil))
        #expect(try command(["--list", "--provider", "OpenAI"]) == .list(provider: openai))
        #expect(try command(["--add-provider", "openai"]) == .addProvider(openai))
        #expect(try command(["--add-key", "openai", "sk-abc"]) == .addKey(openai, .argument(APIKey(validating: "sk-abc"))))
        #expect(try command(["--add-key", "openai", "-"]) == .addKey(openai, .standardInput))
        #expect(try command(["--add-key", "openai", "-starts-with-dash"]) == .addKey(openai, .argument(APIKey(validating: "-starts-with-dash"))))
        #expect(try command(["--add-bulk", "openai", "--file", "keys.txt"]) == .addBulk(openai, file: "keys.txt"))
        #expect(try command(["--update-key", "openai", "3", "sk-new"]) == .updateKey(openai, number: 3, .argument(APIKey(validating: "sk-new"))))
        #expect(try command(["--delete-key", "openai", "3"]) == .deleteKey(openai, number: 3))
        #expect(try command(["--delete-provider", "openai", "--yes"]) == .deleteProvider(openai, confirmed: true))
        #expect(try command(["--migrate", "--dry-run"]) == .migrate(dryRun: true))
        #expect(try command(["--get-key", "openai", "2"]) == .getKey(openai, number: 2))
        #expect(try command(["--random-key", "openai"]) == .randomKey(openai))
    }

    @Test func sharedOptionsGoAnywhere() throws {
        guard case .run(let invocation) = try Invocation.parse([
            "--json", "--get-key", "openai", "2", "--database-url=postgresql://h/db", "--lock-timeout", "0.5",
        ]) else { Issue.record("not parsed as a command"); return }
        #expect(invocation.output.json)
        #expect(invocation.connection.databaseURL == "postgresql://h/db")
        #expect(invocation.connection.lockTimeoutSeconds == 0.5)
    }

    @Test func helpAndVersionWinOverEverythingElse() throws {
        #expect(try Invocation.parse(["--list", "--help"]) == .help)
        #expect(try Invocation.parse(["-h"]) == .help)
        #expect(try Invocation.parse(["--version", "--bogus"]) == .version)
    }

    @Test(arguments: [
        [], ["--list", "--migrate"], ["--add-provider", "a", "--delete-provider", "b"],
        ["--add-key", "openai"], ["--add-key", "openai", "--json"], ["--add-key", "openai", "k", "extra"],
        ["--delete-key", "openai", "0"], ["--delete-key", "openai", "-3"], ["--delete-key", "openai", "three"],
        ["--delete-key", "openai", "99999999999"], ["--get-key", "openai", "1.5"], ["--add-provider", "bad name"],
        ["--file", "x", "--list"], ["--dry-run", "--list"], ["--reveal", "--get-key", "openai", "1"],
        ["--provider", "x", "--migrate"], ["--yes", "--list"], ["--no-such-flag"], ["--list", "--lock-timeout", "-1"],
        ["--list", "--statement-timeout", "nan"], ["--list", "--list"], ["--add-key=openai", "k"], ["list"],
        ["--add-key", "openai", "sk with space"], ["--update-key", "openai", "1", ""],
    ])
    func usageMistakesAreRefusedBeforeAnyIO(_ arguments: [String]) {
        #expect(throws: UsageError.self) { try Invocation.parse(arguments) }
    }

    @Test func mistakesAreExplainedInOneLine() {
        #expect(throws: UsageError("--add-key is missing KEY (usage: keyadmin --add-key PROVIDER KEY)")) {
            try Invocation.parse(["--add-key", "openai"])
        }
        #expect(throws: UsageError("one command at a time: --list and --migrate were both given")) {
            try Invocation.parse(["--list", "--migrate"])
        }
        #expect(throws: UsageError("--file goes with --add-bulk, not with --list")) {
            try Invocation.parse(["--list", "--file", "keys.txt"])
        }
    }
}
