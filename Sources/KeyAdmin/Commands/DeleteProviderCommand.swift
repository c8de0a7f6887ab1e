import KeyStore

/// `--delete-provider NAME`: asks for the name on a terminal; needs --yes elsewhere.
struct DeleteProviderCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.name], help: "delete a provider and all its keys (asks; --yes without a terminal)", writes: true,
        example: "keyadmin --delete-provider openai --yes"
    ) { values, _ throws(UsageError) in
        DeleteProviderCommand(name: try values.provider())
    }

    let name: ProviderName

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        try confirm(context)
        let keys = try context.store.deleteProvider(name)
        return .report(
            "deleted provider \(name) and its \(keys) key\(keys == 1 ? "" : "s")",
            [
                JSONMember("provider", .string(name.rawValue)), JSONMember("deleted", .bool(true)),
                JSONMember("deleted_keys", .number(keys)),
            ])
    }

    private func confirm(_ context: CommandContext) throws(KeyStoreError) {
        guard try context.shouldAsk(before: "--delete-provider", deletes: "every key of \(name)") else { return }
        guard let count = try context.store.keyCount(of: name) else { throw .providerNotFound(name) }
        let answer = Terminal.ask(
            "This deletes provider \(name) and its \(count) key\(count == 1 ? "" : "s") in \(context.target.address). Type the provider's name to confirm: "
        )
        // Names are case-insensitive everywhere else; so is the confirmation.
        guard answer?.trimmingASCIIWhitespace().lowercased() == name.rawValue else {
            throw .invalidInput("the name typed did not match; nothing was deleted", hint: nil)
        }
    }
}
