import KeyStore

/// `--random-key PROVIDER`: an available key, drawn by `get_random_api_key`, alone on stdout.
struct RandomKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider], help: "print a uniformly random key alone on its line", writes: false
    ) { values, _ throws(UsageError) in
        RandomKeyCommand(name: try values.provider())
    }

    let name: ProviderName

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let key = try context.store.randomKey(of: name)
        return CommandResult(body: .secret(key, members: [JSONMember("provider", .string(name.rawValue))]))
    }
}
