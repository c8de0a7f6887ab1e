import KeyStore

/// `--completions SHELL`: printed before any database is looked for.
struct CompletionsCommand {
    static let entry = CommandEntry(
        values: [.shell], help: "print a completion script for bash, zsh or fish", writes: false
    ) { values, _ throws(UsageError) in
        .completions(try values.shell())
    }

    let shell: Shell

    /// The script, printed as it is: no database line, nothing else (the tool prints it before
    /// looking for a database).
    var script: String { Completions.script(for: shell) }
}
