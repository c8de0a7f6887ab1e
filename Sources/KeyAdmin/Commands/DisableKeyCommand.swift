import KeyStore

/// `--disable-key PROVIDER NUM [--reason TEXT]`
struct DisableKeyCommand {
    static let entry = CommandEntry(
        values: [.provider, .number], help: "disable key NUM (kept, never drawn) until --enable-key", writes: true
    ) { values, modifiers throws(UsageError) in
        .disableKey(try values.provider(), number: try values.number(), reason: try modifiers.reason())
    }

    let name: ProviderName
    let number: Int
    let reason: OperatorText?

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, changed) = try context.store.disableKey(
            number: number, of: name, reason: reason, actor: context.invocation.resolvedActor)
        return .keyChange(
            name, number, key, changed: changed,
            text: changed
                ? "disabled key #\(number) of \(name) (\(key.masked)); --enable-key \(name) \(number) undoes it"
                : "key #\(number) of \(name) (\(key.masked)) was already disabled; nothing changed")
    }
}
