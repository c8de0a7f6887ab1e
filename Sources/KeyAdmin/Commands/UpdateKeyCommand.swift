import KeyStore

/// `--update-key PROVIDER NUM KEY [--force]`
struct UpdateKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number, .key], help: "replace key number NUM; KEY may be -", writes: true,
        example: "keyadmin --update-key openai 3 -"
    ) { values, modifiers throws(UsageError) in
        let force = modifiers.has(.force)
        return UpdateKeyCommand(
            name: try values.provider(), number: try values.number(), input: try values.key(force: force), force: force)
    }

    let name: ProviderName
    let number: Int
    let input: KeyInput
    let force: Bool

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let key = try KeyReader.read(input, for: name, force: force)
        let outcome = try context.store.updateKey(number: number, of: name, to: key)
        return .report(
            outcome == .replaced
                ? "replaced key #\(number) of \(name) (now \(key.masked))"
                : "key #\(number) of \(name) is already that key; nothing changed",
            [
                JSONMember("provider", .string(name.rawValue)), JSONMember("number", .number(number)),
                JSONMember("key", .string(key.masked)), JSONMember("changed", .bool(outcome == .replaced)),
            ])
    }
}
