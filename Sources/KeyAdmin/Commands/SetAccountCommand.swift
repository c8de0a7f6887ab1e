import KeyStore

/// `--set-account PROVIDER NUM ACCOUNT` (`none` clears it)
struct SetAccountCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number, .account],
        help: "put key NUM in the provider's project or organisation ACCOUNT: its keys share limits (none clears it)",
        writes: true,
        example: "keyadmin --set-account gemini 3 project-alpha   # a 429 for one rests them all"
    ) { values, _ throws(UsageError) in
        SetAccountCommand(name: try values.provider(), number: try values.number(), account: try values.account())
    }

    let name: ProviderName
    let number: Int
    /// `nil`: an account of its own.
    let account: AccountName?

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, changed) = try context.store.setAccount(account, number: number, of: name)
        let now = account.map { "in account \($0)" } ?? "in no account"
        return .keyChange(
            name, number, key, changed: changed,
            text: changed
                ? "key #\(number) of \(name) (\(key.masked)) is \(now) now"
                : "key #\(number) of \(name) (\(key.masked)) is \(now) already; nothing changed",
            value: JSONMember("account", account.map { .string($0.rawValue) } ?? .null))
    }
}
