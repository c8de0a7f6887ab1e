import KeyStore
import Testing

@testable import KeyAdmin

/// The arguments of migration 033's commands: what each builds, and what each refuses unquoted.
@Suite struct UsageArgumentTests {
    func command(_ arguments: [String]) throws -> any KeyAdminCommand {
        guard case .run(let invocation) = try Invocation.parse(arguments) else { throw UsageError("not a command") }
        return invocation.command
    }

    func usageError(_ arguments: [String]) -> String {
        do {
            _ = try Invocation.parse(arguments)
            return ""
        } catch {
            return error.description
        }
    }

    @Test func eachCommandIsBuiltFromWhatWasGiven() throws {
        let gemini = try ProviderName(validating: "gemini")
        #expect(
            try command(["--set-quota", "gemini", "--requests-per-day", "1_500"]) as? SetQuotaCommand
                == SetQuotaCommand(name: gemini, change: QuotaChange(requests: .perDay(1500), tokens: .unchanged)))
        #expect(
            try command(["--set-quota", "gemini", "--tokens-per-day", "none", "--requests-per-day", "NONE"])
                as? SetQuotaCommand
                == SetQuotaCommand(name: gemini, change: QuotaChange(requests: .none, tokens: .none)))
        #expect(
            try command(["--set-account", "gemini", "#3", "None"]) as? SetAccountCommand
                == SetAccountCommand(name: gemini, number: 3, account: nil))
        #expect(
            try command(["--set-reset", "gemini", "Default"]) as? SetResetCommand
                == SetResetCommand(name: gemini, zone: nil))
        #expect(
            try command(["--set-reset", "gemini", "Etc/GMT+8"]) as? SetResetCommand
                == SetResetCommand(name: gemini, zone: "Etc/GMT+8"))
        var filter = UsageFilter(provider: gemini)
        filter.days = 30
        filter.account = try AccountName.parsing("project-a")
        #expect(
            try command(["--usage", "--provider", "gemini", "--days", "30", "--account", "project-a"]) as? UsageCommand
                == UsageCommand(filter: filter))
        #expect(try command(["--usage"]) as? UsageCommand == UsageCommand(filter: UsageFilter()))
        #expect(try command(["--usage", "--json"]) as? UsageCommand == UsageCommand(filter: UsageFilter()))
    }

    @Test func mistakesAreRefusedWithoutQuotingWhatWasTyped() {
        let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
        for arguments in [
            ["--set-account", "gemini", "3", secret], ["--set-reset", "gemini", secret],
            ["--set-quota", "gemini", "--requests-per-day", secret], ["--usage", "gemini", "--account", secret],
            ["--usage", secret],
        ] {
            let message = usageError(arguments)
            #expect(!message.isEmpty, "\(arguments)")
            #expect(!message.contains("abcdefghijklmnop"), "\(message)")
        }
        #expect(usageError(["--set-reset", "gemini", "America/Los Angeles"]).contains("IANA time zone name"))
        #expect(usageError(["--set-quota", "gemini", "--requests-per-day", "0"]).contains("a whole number from 1"))
        #expect(usageError(["--usage", "gemini", "--provider", "gemini"]).contains("name the provider once"))
        #expect(usageError(["--usage", "--account", "a"]).contains("need the provider"))
        #expect(
            usageError(["--usage", "gemini", "--days", "400"]).contains("--days takes a whole number from 1 to 366"))
        #expect(usageError(["--metrics", "--json"]).contains("--json does not go with it"))
        #expect(usageError(["--prune-usage"]).contains("--prune-usage needs --before WHEN"))
    }
}
