enum HelpText {
    static var full: String {
        func lines(_ options: [Option]) -> String {
            options.map { option in
                let usage = option.usage
                return usage.count < 30
                    ? "  " + usage + String(repeating: " ", count: 30 - usage.count) + option.help
                    : "  " + usage + "\n" + String(repeating: " ", count: 32) + option.help
            }.joined(separator: "\n")
        }
        return """
            keyadmin \(KeyAdminVersion.current): manage pools of LLM provider API keys in your own PostgreSQL (Supabase) database.

            Usage: keyadmin COMMAND [OPTIONS]

            Commands (exactly one):
            \(lines(Option.allCases.filter(\.isCommand)))

            Options:
            \(lines(Option.allCases.filter { !$0.isCommand }))
              --help                        show this help
              --version                     show the version

            Keys are shown masked (sk-pr…a1b2) except by --get-key, --random-key and --list --reveal.
            The database is --database-url, else WORKER_1_DATABASE_URL, else DATABASE_URL (the
            environment, then .env in the current directory), else libpq's defaults (PGHOST,
            PGUSER, ~/.pgpass...).

            Examples:
              keyadmin --migrate
              keyadmin --add-provider openai
              keyadmin --add-key openai -                  # the key from stdin, hidden on a terminal
              keyadmin --add-bulk openai --file keys.txt   # one key per line; # comments
              keyadmin --list --provider openai
              export OPENAI_API_KEY=$(keyadmin --random-key openai)
              keyadmin --update-key openai 3 -
              keyadmin --delete-key openai 3
              keyadmin --delete-provider openai --yes

            Exit codes: 0 success, 1 failure, 2 usage or invalid input (nothing changed),
            3 provider or key not found, 4 busy or timed out (try again).
            """
    }
}
