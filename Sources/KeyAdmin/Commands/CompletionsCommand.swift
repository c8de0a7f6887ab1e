import KeyStore

/// `--completions SHELL`: printed before any database is looked for.
struct CompletionsCommand: StandaloneCommand, Equatable {
    static let entry = CommandEntry(
        values: [.shell], help: "print a completion script for bash, zsh or fish", writes: false,
        example: "source <(keyadmin --completions bash)"
    ) { values, _ throws(UsageError) in
        CompletionsCommand(shell: try values.shell())
    }

    let shell: Shell

    /// The script, printed as it is: no database line, nothing else.
    var output: String { Completions.script(for: shell) }
}
