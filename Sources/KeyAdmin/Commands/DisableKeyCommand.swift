import KeyStore

/// `--disable-key PROVIDER NUM [--reason TEXT]`
struct DisableKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number], help: "disable key NUM (kept, never drawn) until --enable-key", writes: true,
        example: "keyadmin --disable-key openai 3 --reason \"leaked in a log\""
    ) { values, modifiers throws(UsageError) in
        DisableKeyCommand(name: try values.provider(), number: try values.number(), reason: try modifiers.reason())
    }

    let name: ProviderName
    let number: Int
    let reason: OperatorText?

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, outcome) = try context.store.disableKey(
            number: number, of: name, reason: reason, actor: context.actor ?? OperatorText.actorOrUnknown("unknown"))
        let text =
            switch outcome {
            case .disabled:
                "disabled key #\(number) of \(name) (\(key.masked)); --enable-key \(name) \(number) undoes it"
            case .reasonChanged:
                "key #\(number) of \(name) (\(key.masked)) was already disabled; its reason is the new one now"
            case .alreadyDisabled:
                "key #\(number) of \(name) (\(key.masked)) was already disabled; nothing changed"
            }
        return .keyChange(name, number, key, changed: outcome != .alreadyDisabled, text: text)
    }
}
