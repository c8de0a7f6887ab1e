import KeyStore

/// What a command's handler works with: the store, what was asked, and the database it is on.
struct CommandContext {
    let store: KeyStore
    let invocation: Invocation
    let target: DatabaseTarget
    /// Who makes the change, for the record; `nil` for commands that only read.
    let actor: OperatorText?
    /// The one printer: a handler's warnings and notes on stderr go through it too.
    let printer: ResultPrinter

    var json: Bool { invocation.output.json }

    /// The rule for every command that deletes: `--yes`, or a terminal to ask on. Without either
    /// it refuses before it changes anything (exit 2), so that a script or a pipe never deletes
    /// unconfirmed. Returns whether to ask.
    func shouldAsk(before command: String, deletes what: String) throws(KeyStoreError) -> Bool {
        if invocation.assumeYes { return false }
        guard Terminal.inputIsTerminal else {
            throw .invalidInput(
                "\(command) deletes \(what) and needs confirmation", hint: "add --yes to confirm when not on a terminal"
            )
        }
        return true
    }

    /// Asks `question` (answered y or yes, any case) on the terminal; anything else refuses,
    /// having changed nothing.
    func requireYes(to question: String) throws(KeyStoreError) {
        let answer = Terminal.ask(question + " [y/N] ")
        guard let answer, ["y", "yes"].contains(answer.trimmingASCIIWhitespace().lowercased()) else {
            throw .invalidInput("not confirmed; nothing was deleted", hint: nil)
        }
    }
}

/// Every command: its values, its help, whether it writes, and
/// how it is built from its values, in one entry each, kept in the command's own file.
struct CommandEntry: Sendable {
    /// Builds the command from exactly `values.count` values, taken in order.
    typealias Builder = @Sendable (inout CommandValues, ParsedModifiers) throws(UsageError) -> any KeyAdminCommand

    let values: [ValueKind]
    let help: String
    /// Whether the command changes data. Only those name an actor for the audit trail, so a
    /// read (a backend's --get-key) does not look up the user and host it would not use.
    let writes: Bool
    /// One typical use, for the command's own `--help`.
    let example: String
    let build: Builder
}

extension CommandResult {
    /// The result of a change to one key: what happened, or that nothing needed to; `value`,
    /// the setting as it is now (`"tier": 2`), so that a script reads the new value, not only
    /// whether it changed.
    static func keyChange(
        _ name: ProviderName, _ number: Int, _ key: APIKey, changed: Bool, text: String, value: JSONMember? = nil
    ) -> CommandResult {
        .report(
            text,
            [
                JSONMember("provider", .string(name.rawValue)), JSONMember("number", .number(number)),
                JSONMember("key", .string(key.masked)), JSONMember("changed", .bool(changed)),
            ] + (value.map { [$0] } ?? []))
    }
}
