enum HelpText {
    static var full: String {
        func line(_ usage: String, _ help: String) -> String {
            usage.count <= 28
                ? "  " + usage + String(repeating: " ", count: 30 - usage.count) + help
                : "  " + usage + "\n" + String(repeating: " ", count: 32) + help
        }
        let commands = CommandName.allCases.map { command in
            line(
                ([command.rawValue] + command.entry.values.map(\.name) + command.requiredModifiers.map(\.usage))
                    .joined(separator: " "), command.entry.help)
        }
        let options = Modifier.allCases.map { line($0.usage, $0.help) }
        let exitCodes = ExitStatus.allCases.map { "  " + padded(String($0.rawValue), to: 5) + $0.meaning }
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
            \(exitCodes.joined(separator: "\n"))
            """
    }
}
