/// What `--help` prints: every command and option, or (`--add-key --help`) one command with
/// the options that go with it. Written from the command table, so it cannot leave one out.
enum HelpText {
    private static func line(_ usage: String, _ help: String) -> String {
        usage.count <= 28
            ? "  " + usage + String(repeating: " ", count: 30 - usage.count) + help
            : "  " + usage + "\n" + String(repeating: " ", count: 32) + help
    }

    /// "  3    provider, key or usable key not found", a line per code.
    private static func exitCodeLines(_ statuses: [ExitStatus]) -> String {
        statuses.map { "  " + padded(String($0.rawValue), to: 5) + $0.meaning }.joined(separator: "\n")
    }

    /// One command: its usage, what it does, its own options, then the options every command takes.
    static func command(_ command: CommandName) -> String {
        // "with --add-key, --add-bulk: the keys' tier..." says which commands; here it is known.
        func ownHelp(_ modifier: Modifier) -> String {
            guard modifier.help.hasPrefix("with "), let colon = modifier.help.firstRange(of: ": ") else {
                return modifier.help
            }
            return String(modifier.help[colon.upperBound...])
        }
        let own = command.modifiers.map { line($0.usage, ownHelp($0)) }
        let shared = Modifier.allCases.filter { $0.commands == nil }.map { line($0.usage, $0.help) }
        var sections = ["Usage: keyadmin \(command.usage)", command.entry.help]
        if !own.isEmpty { sections.append("Options:\n" + own.joined(separator: "\n")) }
        // --completions prints before any database is looked for, and refuses --json.
        if command != .completions {
            sections.append("Options every command takes:\n" + shared.joined(separator: "\n"))
        }
        sections.append("Example:\n  " + command.entry.example)
        sections.append("Exit codes:\n" + exitCodeLines(command.exitStatuses))
        sections.append("Every command: keyadmin --help")
        return sections.joined(separator: "\n\n")
    }

    static var full: String {
        let commands = CommandName.allCases.map { command in
            line(
                ([command.rawValue] + command.entry.values.map(\.name) + command.requiredModifiers.map(\.usage))
                    .joined(separator: " "), command.entry.help)
        }
        let options = Modifier.allCases.map { line($0.usage, $0.help) }
        let exitCodes = exitCodeLines(ExitStatus.allCases)
        return """
            keyadmin \(KeyAdminVersion.current): manage pools of LLM provider API keys in your own PostgreSQL (Supabase) database.

            Usage: keyadmin COMMAND [OPTIONS]

            Commands (exactly one):
            \(commands.joined(separator: "\n"))

            Options:
            \(options.joined(separator: "\n"))
              --help                        show this help
              --version                     show the version

            Keys are shown masked (sk-pr…a1b2) except by --get-key, --random-key and --list --reveal.
            The database is --database-url, else WORKER_1_DATABASE_URL, else DATABASE_URL (the
            environment, then .env in the current directory), else libpq's defaults (PGHOST,
            PGUSER, ~/.pgpass...). Every result and error names the database it used.

            Examples:
              keyadmin --migrate
              keyadmin --add-provider openai
              keyadmin --add-key openai -                  # the key from stdin, hidden on a terminal
              keyadmin --add-bulk openai --file keys.txt   # one key per line; # comments
              keyadmin --list --provider openai
              export OPENAI_API_KEY=$(keyadmin --random-key openai)
              keyadmin --update-key openai 3 -
              keyadmin --delete-key openai 3
              keyadmin --add-key openai - --number 3       # put a deleted key back under its number
              keyadmin --delete-provider openai --yes
              keyadmin --check openai --revive             # ask OpenAI about every key; enable those that work again
              source <(keyadmin --completions bash)

            Exit codes:
            \(exitCodes)
            """
    }
}
