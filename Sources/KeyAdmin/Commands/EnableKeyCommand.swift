import KeyStore

/// `--enable-key PROVIDER NUM`
struct EnableKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number], help: "enable key NUM again, clearing its cooldown, exhaustion and failures",
        writes: true,
        example: "keyadmin --enable-key openai 3"
    ) { values, _ throws(UsageError) in
        EnableKeyCommand(name: try values.provider(), number: try values.number())
    }

    let name: ProviderName
    let number: Int

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, changed) = try context.store.enableKey(number: number, of: name)
        return .keyChange(
            name, number, key, changed: changed,
            text: changed
                ? "enabled key #\(number) of \(name) (\(key.masked)); its cooldown, exhaustion and failures are cleared"
                : "key #\(number) of \(name) (\(key.masked)) was already enabled; nothing changed")
    }
}
