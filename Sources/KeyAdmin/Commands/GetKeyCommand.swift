import KeyStore

/// `--get-key PROVIDER NUM`: the key alone on stdout, for `$(...)`.
struct GetKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number], help: "print key number NUM alone on its line", writes: false,
        example: "export OPENAI_API_KEY=$(keyadmin --get-key openai 3)"
    ) { values, _ throws(UsageError) in
        GetKeyCommand(name: try values.provider(), number: try values.number())
    }

    let name: ProviderName
    let number: Int

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let key = try context.store.key(number: number, of: name)
        return CommandResult(
            body: .secret(
                key, members: [JSONMember("provider", .string(name.rawValue)), JSONMember("number", .number(number))]))
    }
}
