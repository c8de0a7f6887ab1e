import KeyStore
import Testing

@testable import KeyAdmin

@Suite struct ArgumentTests {
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

    @Test func seedSpellingsParse() throws {
        let openai = try ProviderName(validating: "openai")
        let key = try APIKey(validating: "sk-abc-12345678")
        let noOptions = NewKeyOptions()
        #expect(
            try command(["--list"]) as? ListCommand
                == ListCommand(provider: nil, reveal: false, state: nil, summary: false))
        #expect(
            try command(["--list", "--provider", "OpenAI", "--reveal"]) as? ListCommand
                == ListCommand(provider: openai, reveal: true, state: nil, summary: false))
        #expect(try command(["--add-provider", "openai"]) as? AddProviderCommand == AddProviderCommand(name: openai))
        #expect(
            try command(["--add-key", "openai", "sk-abc-12345678"]) as? AddKeyCommand
                == AddKeyCommand(name: openai, input: .argument(key), number: nil, force: false, options: noOptions))
        #expect(
            try command(["--add-key", "openai", "-"]) as? AddKeyCommand
                == AddKeyCommand(name: openai, input: .standardInput, number: nil, force: false, options: noOptions))
        #expect(
            try command(["--add-key", "openai", "-", "--number", "#4"]) as? AddKeyCommand
                == AddKeyCommand(name: openai, input: .standardInput, number: 4, force: false, options: noOptions))
        #expect(
            try command(["--add-bulk", "openai", "--file", "keys.txt"]) as? AddBulkCommand
                == AddBulkCommand(name: openai, source: .file("keys.txt"), force: false, options: noOptions))
        #expect(
            try command(["--add-bulk", "openai", "--file", "-"]) as? AddBulkCommand
                == AddBulkCommand(name: openai, source: .standardInput, force: false, options: noOptions))
        #expect(
            try command(["--update-key", "openai", "3", "sk-abc-12345678"]) as? UpdateKeyCommand
                == UpdateKeyCommand(name: openai, number: 3, input: .argument(key), force: false))
        #expect(
            try command(["--delete-key", "openai", "#3"]) as? DeleteKeyCommand
                == DeleteKeyCommand(name: openai, number: 3))
        #expect(
            try command(["--delete-provider", "openai", "--yes"]) as? DeleteProviderCommand
                == DeleteProviderCommand(name: openai))
        #expect(try command(["--migrate", "--dry-run"]) as? MigrateCommand == MigrateCommand(dryRun: true))
        #expect(try command(["--get-key", "openai", "2"]) as? GetKeyCommand == GetKeyCommand(name: openai, number: 2))
        #expect(try command(["--random-key", "openai"]) as? RandomKeyCommand == RandomKeyCommand(name: openai))
        #expect(try command(["--completions", "zsh"]) as? CompletionsCommand == CompletionsCommand(shell: .zsh))
        #expect(
            try command(["--disable-key", "openai", "3", "--reason", "revoked"]) as? DisableKeyCommand
                == DisableKeyCommand(name: openai, number: 3, reason: try .reason("revoked")))
        #expect(
            try command(["--enable-key", "openai", "#3"]) as? EnableKeyCommand
                == EnableKeyCommand(name: openai, number: 3))
        #expect(
            try command(["--set-label", "openai", "3", ""]) as? SetLabelCommand
                == SetLabelCommand(name: openai, number: 3, label: try .label("")))
        #expect(
            try command(["--set-expiry", "openai", "3", "never"]) as? SetExpiryCommand
                == SetExpiryCommand(name: openai, number: 3, expiry: .never))
        #expect(
            try command(["--set-expiry", "openai", "3", "2027-02-28 18:30"]) as? SetExpiryCommand
                == SetExpiryCommand(
                    name: openai, number: 3, expiry: .at(try #require(UTCTime(iso8601: "2027-02-28T18:30:00Z")))))
        #expect(
            try command(["--set-tier", "openai", "3", "2"]) as? SetTierCommand
                == SetTierCommand(name: openai, number: 3, tier: try KeyTier(validating: "2")))
        #expect(
            try command(["--set-weight", "openai", "3", "7"]) as? SetWeightCommand
                == SetWeightCommand(name: openai, number: 3, weight: try KeyWeight(validating: "7")))
        #expect(
            try command(["--list", "--state", "cooling"]) as? ListCommand
                == ListCommand(provider: nil, reveal: false, state: .coolingDown, summary: false))
        #expect(
            try command(["--add-bulk", "openai", "--label", "team-a", "--expires", "2027-01-01T00:00:00+02:00"])
                as? AddBulkCommand
                == AddBulkCommand(
                    name: openai, source: .standardInput, force: false,
                    options: NewKeyOptions(
                        label: try .label("team-a"),
                        // Converted to UTC: what is stored and echoed is the same instant, in UTC.
                        expiry: .at(try #require(UTCTime(iso8601: "2026-12-31T22:00:00Z"))))))
        #expect(try command(["--doctor", "--strict"]) as? DoctorCommand == DoctorCommand(strict: true))
    }

    @Test func everyCommandIsBuiltFromExactlyItsValues() throws {
        // The table's value list and its builder agree: the builder takes each value once.
        func sample(_ kind: ValueKind) -> String {
            switch kind {
            case .provider, .name, .optionalProvider: "openai"
            case .account: "project-alpha"
            case .zone: "Europe/Berlin"
            case .number: "3"
            case .key: "sk-abc-12345678"
            case .shell: "bash"
            case .text: "a note"
            case .when: "2027-01-01"
            case .tier: "2"
            case .weight: "5"
            case .url: "https://api.example.com/v1"
            }
        }
        // Options a command cannot do without, beyond its values.
        let options = [CommandName.setQuota: ["--requests-per-day", "1500"]]
        for name in CommandName.allCases {
            let values =
                name.entry.values.map(sample) + name.requiredModifiers.flatMap { [$0.rawValue, "2020-01-01"] }
                + (options[name] ?? [])
            _ = try command([name.rawValue] + values)
            #expect(throws: UsageError.self, "\(name.rawValue) with a value too many") {
                try Invocation.parse([name.rawValue] + name.entry.values.map(sample) + ["extra"])
            }
            // A value that may be left out ([PROVIDER]) has no "too few".
            if let last = name.entry.values.last, last != .optionalProvider {
                #expect(throws: UsageError.self, "\(name.rawValue) with a value too few") {
                    try Invocation.parse(
                        [name.rawValue] + name.entry.values.map(sample).dropLast() + (options[name] ?? []))
                }
            }
        }
    }

    @Test func sharedOptionsGoAnywhereAndYesGoesWithEveryCommand() throws {
        guard
            case .run(let invocation) = try Invocation.parse([
                "--json", "--get-key", "openai", "2", "--database-url=postgresql://h/db", "--lock-timeout", "0.5",
                "--yes",
            ])
        else {
            Issue.record("not parsed as a command")
            return
        }
        #expect(invocation.output.json)
        #expect(invocation.assumeYes)
        #expect(invocation.connection.databaseURL == "postgresql://h/db")
        #expect(invocation.connection.lockTimeout == .milliseconds(500))
        #expect(
            try command(["--delete-key", "openai", "1", "--yes"]) as? DeleteKeyCommand
                == DeleteKeyCommand(name: try ProviderName(validating: "openai"), number: 1))
        #expect(
            try command(["--list", "--yes"]) as? ListCommand
                == ListCommand(provider: nil, reveal: false, state: nil, summary: false))
    }

    @Test func helpAndVersionWinOverEverythingElse() throws {
        func request(_ arguments: [String]) throws -> String {
            switch try Invocation.parse(arguments) {
            case .help(let command): command.map { "help for \($0.rawValue)" } ?? "help"
            case .version(let json): json ? "version as JSON" : "version"
            case .run(let invocation): "run \(invocation.name.rawValue)"
            }
        }
        #expect(try request([]) == "help")
        #expect(try request(["--help", "--bogus"]) == "help")
        #expect(try request(["--list", "--help"]) == "help for --list")
        #expect(try request(["--add-provider", "-h"]) == "help for --add-provider")
        #expect(try request(["--version", "--bogus"]) == "version")
        #expect(try request(["--version", "--json"]) == "version as JSON")
        #expect(try request(["--list", "--json"]) == "run --list")
    }

    @Test(arguments: [
        ["--list", "--migrate"], ["--add-provider", "a", "--delete-provider", "b"],
        ["--add-key", "openai"], ["--add-key", "openai", "--json"],
        ["--add-key", "openai", "sk-abc-12345678", "extra"],
        ["--delete-key", "openai", "0"], ["--delete-key", "openai", "-3"], ["--delete-key", "openai", "three"],
        ["--delete-key", "openai", "99999999999"], ["--get-key", "openai", "1.5"], ["--add-provider", "bad name"],
        ["--file", "x", "--list"], ["--dry-run", "--list"], ["--reveal", "--get-key", "openai", "1"],
        ["--provider", "x", "--migrate"], ["--number", "3", "--add-bulk", "openai"], ["--force", "--list"],
        ["--no-such-flag"], ["--list", "--lock-timeout", "-1"],
        ["--list", "--statement-timeout", "nan"], ["--list", "--list"], ["--add-key=openai", "k"], ["list"],
        ["--add-key", "openai", "sk with space"], ["--update-key", "openai", "1", ""],
        // Values that start with "-" are options or mistakes, never names, numbers or keys.
        ["--add-provider", "-x"], ["--add-provider", "--version2"], ["--add-key", "groq", "-h1"],
        ["--add-key", "groq", "-x"], ["--list", "--provider", "-h1"],
        // Names start with a letter or digit.
        ["--add-provider", ".hidden"], ["--add-provider", "_x"],
        // Keys of odd shapes, refused without --force.
        ["--add-key", "groq", "sk-"], ["--add-key", "groq", "short"],
        ["--add-key", "groq", "OPENAI_API_KEY=sk-abcdef123456"],
        ["--add-key", "groq", "\"sk-abcdef123456\","], ["--add-key", "groq", "'sk-abcdef123456'"],
        ["--add-key", "groq", "sk-abcdef123456,"], ["--add-key", "groq", "k1234567,k2345678"],
        ["--completions", "powershell"],
        // Lifecycle: unknown states, bad dates, reasons and labels that look like keys.
        ["--list", "--state", "broken"], ["--set-expiry", "openai", "1", "tomorrow"],
        ["--set-expiry", "openai", "1", "2027-02-30"],
        ["--set-expiry", "openai", "1", "2027-13-01"], ["--set-expiry", "openai", "1", "2027-01-01T25:00"],
        ["--set-expiry", "openai", "1", "31/12/2027"], ["--add-key", "openai", "sk-abc-12345678", "--expires", "soon"],
        ["--disable-key", "openai", "1", "--reason", "sk-proj-AbCdEf0123456789AbCdEf"],
        ["--set-label", "openai", "1", "sk-ant-api03-AbCdEf0123456789xyz"],
        ["--set-label", "openai", "1", String(repeating: "x", count: 101)],
        ["--set-label", "openai", "1", "two\nlines"], ["--reason", "x", "--list"], ["--label", "x", "--list"],
        ["--list", "--actor", "sk-proj-AbCdEf0123456789AbCdEf"],
    ])
    func usageMistakesAreRefusedBeforeAnyIO(_ arguments: [String]) {
        #expect(throws: UsageError.self) { try Invocation.parse(arguments) }
    }

    /// The message names the mistake: a value that starts with "-" is refused as such, and an
    /// odd key says what is odd about it (without quoting it).
    @Test(arguments: [
        (["--add-provider", "-x"], "--add-provider is missing NAME; a value does not start with -"),
        (["--get-key", "openai", "-1"], "--get-key is missing NUM; a value does not start with -"),
        (["--set-label", "openai", "1", "-team"], "--set-label is missing TEXT; a value does not start with -"),
        (["--list", "--provider", "-h1"], "--provider is missing NAME; a value does not start with -"),
        (["--add-key", "groq", "sk-abcdef123456,"], "the key ends with a comma"),
        (["--add-key", "groq", "k1234567,k2345678"], "the key contains a comma"),
        (["--add-key", "groq", "'sk-abcdef123456'"], "the key starts with a quote"),
        (["--add-key", "groq", "short"], "the key is shorter than 8 characters"),
    ])
    func usageMistakesSayWhatIsWrong(_ arguments: [String], _ expected: String) {
        #expect {
            try Invocation.parse(arguments)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test func forceStoresOddKeysButNotImpossibleOnes() throws {
        let groq = try ProviderName(validating: "groq")
        for odd in ["short", "OPENAI_API_KEY=sk-abcdef123456", "\"sk-abcdef123456\",", "k1234567,k2345678"] {
            #expect(
                try command(["--add-key", "groq", odd, "--force"]) as? AddKeyCommand
                    == AddKeyCommand(
                        name: groq, input: .argument(try APIKey(validating: odd, force: true)), number: nil,
                        force: true, options: NewKeyOptions()))
        }
        #expect(throws: UsageError.self) { try Invocation.parse(["--add-key", "groq", "sk with space", "--force"]) }
        // Base64 padding is not NAME=value.
        _ = try APIKey(validating: "QUJDREVGR0hJSktMTU5PUA==")
    }

    @Test func swappedOrMisplacedValuesGetAHintAboutTheOrder() {
        #expect(usageError(["--disable-key", "3", "openai"]).contains("check the order: PROVIDER comes before NUM"))
        #expect(!usageError(["--disable-key", "openai", "x y"]).contains("check the order"))
        #expect(
            usageError(["--list", "openai"]).hasPrefix("too many values for --list; did you mean --provider openai?"))
        #expect(
            usageError(["--history", "OpenAI"]).hasPrefix(
                "too many values for --history; did you mean --provider openai?"))
        #expect(
            usageError(["--add-bulk", "openai", "keys.txt"]).hasPrefix(
                "too many values for --add-bulk; give the file with --file PATH"))
        // Not a provider name: nothing is quoted back.
        #expect(usageError(["--list", "a b"]).hasPrefix("too many values for --list (usage:"))
    }

    @Test func randomKeyTakesAnAffinityAndScriptsRefuseJSON() throws {
        let openai = try ProviderName(validating: "openai")
        #expect(
            try command(["--random-key", "openai", "--affinity", "chat-7"]) as? RandomKeyCommand
                == RandomKeyCommand(name: openai, affinity: "chat-7"))
        #expect(
            usageError(["--random-key", "openai", "--affinity", " "]).hasPrefix("--affinity takes a non-empty text"))
        #expect(
            usageError(["--get-key", "openai", "1", "--affinity", "x"]).hasPrefix("--affinity goes with --random-key"))
        #expect(
            usageError(["--completions", "bash", "--json"])
                == "--completions prints a script as it is: --json does not go with it (usage: keyadmin --completions SHELL)"
        )
    }

    @Test func mistakesAreExplainedInOneLineWithTheCommandsUsage() {
        #expect(
            usageError(["--add-key", "openai"])
                == "--add-key is missing KEY (usage: keyadmin --add-key PROVIDER KEY [--number NUM] [--force] [--label TEXT] [--expires WHEN] [--tier TIER] [--weight WEIGHT] [--account NAME])"
        )
        #expect(
            usageError(["--list", "--provider"])
                == "--provider is missing NAME (usage: keyadmin --list [--provider NAME] [--reveal] [--state STATE] [--summary])"
        )
        #expect(usageError(["--list", "--migrate"]) == "one command at a time: --list and --migrate were both given")
        #expect(
            usageError(["--list", "--summary", "--state", "disabled"])
                == "--summary shows counts, not keys: leave out --state and --reveal")
        #expect(usageError(["--set-expiry", "openai", "1", "2026-13-01"]).contains("now or never"))
        #expect(usageError(["--list", "--file", "keys.txt"]) == "--file goes with --add-bulk, not with --list")
        #expect(
            usageError(["--list", "--force"])
                == "--force goes with --add-provider, --add-key, --add-bulk, --update-key, --set-expiry or --check, not with --list"
        )
    }

    @Test func unknownOptionsGetTheClosestSpelling() {
        #expect(usageError(["--lis"]) == "unknown option --lis (did you mean --list?)")
        #expect(usageError(["--add-keys", "openai", "k"]) == "unknown option --add-keys (did you mean --add-key?)")
        #expect(usageError(["-list"]) == "unknown option -list (did you mean --list?)")
        #expect(usageError(["--zzzzzzzzzz"]) == "unknown option --zzzzzzzzzz (see keyadmin --help)")
        // Not the shape of an option name: not shown.
        #expect(usageError(["-sk-proj-abc/def+ghi"]) == "unknown option (see keyadmin --help)")
    }

    /// Every command, its values in every order, with a key among them: the key is never in
    /// the message, and a key where a name or number belongs is called what it is.
    @Test func aKeyInTheWrongPlaceIsNeverEchoed() throws {
        let keys = [
            "sk-proj-UUUUvvvvWWWW2222xxxxYYYY", "sk-ant-api03-AbCdEf0123456789", "AIzaSyA1b2C3d4E5f6G7h8I9j0",
            "gsk_0123456789abcdefABCDEF", "xai-AbCdEf0123456789xyz", "0123456789abcdef0123456789abcdef",
        ]
        for key in keys {
            for name in CommandName.allCases {
                let slots = max(name.entry.values.count, 1)
                let others = ["openai", "3", "sk-fine-key-0001"].prefix(slots - 1)
                for position in 0..<slots {
                    var values = Array(others)
                    values.insert(key, at: position)
                    for extra in [[], ["extra"]] {
                        let message = usageError([name.rawValue] + values + extra)
                        #expect(!message.contains(key), "\(name.rawValue) \(position)")
                        #expect(
                            !message.lowercased().contains(key.lowercased().prefix(12)), "\(name.rawValue) \(position)")
                        #expect(!message.contains(String(key.suffix(8))), "\(name.rawValue) \(position)")
                    }
                }
                let misplaced = usageError(
                    [name.rawValue, key] + ["openai", "3"].prefix(max(0, name.entry.values.count - 1)))
                if name.entry.values.first != .key, name.entry.values.first != .shell {
                    #expect(misplaced.contains("looks like a key"), "\(name.rawValue): \(misplaced)")
                }
            }
            #expect(usageError(["--list", "--provider", key]).contains("looks like a key"))
            #expect(usageError(["--add-key", "openai", "-", "--number", key]).contains("looks like a key"))
            #expect(usageError(["-" + key]) == "unknown option (see keyadmin --help)")
        }
    }

    /// Short keys with separators have no long run of letters and digits: their prefix alone
    /// gives them away. Written out here, so that a prefix dropped from the list fails.
    @Test func everyKnownPrefixMarksAKey() {
        for key in [
            "sk-ab-cd-ef", "sk_ab-cd-ef", "AIza-b-c-d-e", "gsk_ab-cd-ef", "xai-ab-cd-ef", "hf_ab-cd-efg",
            "ghp_ab-cd-ef", "github_pat_ab-cd", "pplx-ab-cd-ef", "r8_ab-cd-efg", "AKIA-b-c-d-e", "nvapi-ab-cd-e",
            "csk-ab-cd-ef", "fw_ab-cd-efg", "tgp_ab-cd-ef",
        ] {
            #expect(KeyShape.looksLikeKey(key), "\(key)")
            #expect(!KeyShape.looksLikeKey("q" + key.dropFirst()), "\(key)")
        }
    }

    @Test func namesThatAreNotKeysAreNotMistakenForKeys() throws {
        for name in ["openai", "azure-openai-eastus2-prod", "anthropic.claude-3", "gpt-4o-mini", "x"] {
            #expect(!KeyShape.looksLikeKey(name), "\(name)")
            _ = try ProviderName(validating: name)
        }
    }
}
