import KeyStore

/// `--completions SHELL`: printed before any database is looked for.
struct CompletionsCommand {
    static let entry = CommandEntry(
        values: [.shell], help: "print a completion script for bash, zsh or fish", writes: false
    ) { values, _ throws(UsageError) in
        .completions(try values.shell())
    }

    let shell: Shell

    func run() -> CommandResult {
        CommandResult(body: .report(lines: [Completions.script(for: shell)], members: []))
    }
}
