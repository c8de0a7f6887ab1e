import KeyStore

/// `--delete-key PROVIDER NUM`: on a terminal without --yes, shows the key (masked) and asks;
/// elsewhere it needs --yes.
struct DeleteKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number], help: "delete key number NUM, showing it masked (asks; --yes without a terminal)",
        writes: true,
        example: "keyadmin --delete-key openai 3"
    ) { values, _ throws(UsageError) in
        DeleteKeyCommand(name: try values.provider(), number: try values.number())
    }

    let name: ProviderName
    let number: Int

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let confirmed = try confirm(context)
        let deleted = try context.store.deleteKey(number: number, of: name, expected: confirmed)
        return .report(
            "deleted key #\(number) of \(name) (\(deleted.masked)); put it back with keyadmin --add-key \(name) - --number \(number)",
            [
                JSONMember("provider", .string(name.rawValue)), JSONMember("number", .number(number)),
                JSONMember("key", .string(deleted.masked)), JSONMember("deleted", .bool(true)),
            ])
    }

    /// The key confirmed, so that only that key is deleted; `nil` with --yes.
    private func confirm(_ context: CommandContext) throws(KeyStoreError) -> APIKey? {
        guard try context.shouldAsk(before: "--delete-key", deletes: "key #\(number) of \(name)") else { return nil }
        let key = try context.store.storedKey(number: number, of: name)
        try context.requireYes(to: "Delete key #\(number) of \(name) (\(key.masked)) in \(context.target.address)?")
        return key
    }
}
