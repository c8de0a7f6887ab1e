import KeyStore

/// `--add-provider NAME [--force]`: a name shaped like a key or an id needs `--force`.
struct AddProviderCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.name], help: "add a provider (a-z 0-9 . _ -, starting with a letter or digit)", writes: true,
        example: "keyadmin --add-provider openai"
    ) { values, modifiers throws(UsageError) in
        AddProviderCommand(name: try values.newProvider(force: modifiers.has(.force)))
    }

    let name: ProviderName

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        try context.store.addProvider(name)
        return .report(
            "added provider \(name)",
            [JSONMember("provider", .string(name.rawValue)), JSONMember("added", .bool(true))])
    }
}
