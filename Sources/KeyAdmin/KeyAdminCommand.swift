import KeyStore

/// One command's handler, built by its entry (`CommandEntry.build`) from checked values. Each
/// lives in its own file under Commands/ and is listed once, in `CommandName.entry`.
protocol KeyAdminCommand {
    /// Runs on the database the context names and says what it has to say, for the one printer.
    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult
}

/// A command that needs no database (`--completions`): the tool prints `output` as it is,
/// before it looks for one, so it works where no database is set up yet.
protocol StandaloneCommand: KeyAdminCommand {
    var output: String { get }
}

extension StandaloneCommand {
    /// For a caller that has a database anyway: the same text, as a report.
    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        .report([output], [])
    }
}
