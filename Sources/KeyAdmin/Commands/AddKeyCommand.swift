import KeyStore

/// `--add-key PROVIDER KEY [--number NUM] [--force] [--label TEXT] [--expires WHEN] [--tier TIER]
/// [--weight WEIGHT] [--account NAME]`: one key, numbered highest-plus-one unless `--number` gives a free number.
struct AddKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .key], help: "add one key; KEY - reads it from stdin (hidden on a terminal)", writes: true,
        example: "keyadmin --add-key openai -            # the key from stdin, hidden on a terminal"
    ) { values, modifiers throws(UsageError) in
        let force = modifiers.has(.force)
        return AddKeyCommand(
            name: try values.provider(), input: try values.key(force: force), number: try modifiers.number(),
            force: force,
            options: try modifiers.newKeyOptions())
    }

    let name: ProviderName
    let input: KeyInput
    let number: Int?
    let force: Bool
    let options: NewKeyOptions

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let key = try KeyReader.read(input, for: name, force: force)
        let added = try context.store.addKey(key, to: name, number: number, options: options)
        return .report(
            "added key #\(added) to \(name) (\(key.masked))",
            [
                JSONMember("provider", .string(name.rawValue)), JSONMember("number", .number(added)),
                JSONMember("key", .string(key.masked)),
            ])
    }
}
