import KeyStore

/// `--set-expiry PROVIDER NUM WHEN [--force]`: a time in the past needs `--force`.
struct SetExpiryCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number, .when], help: "set when key NUM expires: 2026-12-31, a date-time, now, or never",
        writes: true,
        example: "keyadmin --set-expiry openai 3 2026-12-31"
    ) { values, modifiers throws(UsageError) in
        SetExpiryCommand(
            name: try values.provider(), number: try values.number(),
            expiry: try values.expiry(force: modifiers.has(.force)))
    }

    let name: ProviderName
    let number: Int
    let expiry: Expiry

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, changed) = try context.store.setExpiry(expiry, number: number, of: name)
        let when =
            switch expiry {
            case .never: "never expires"
            case .now: "has expired"
            case .at(let time): "expires at \(time)"
            }
        return .keyChange(
            name, number, key, changed: changed,
            text: changed
                ? "key #\(number) of \(name) (\(key.masked)) now \(when)"
                : "key #\(number) of \(name) (\(key.masked)) already \(when); nothing changed",
            value: JSONMember("expiry", .string(Self.word(for: expiry))))
    }

    /// "never", "now" or the time in UTC: the expiry as given, normalised.
    static func word(for expiry: Expiry) -> String {
        switch expiry {
        case .never: "never"
        case .now: "now"
        case .at(let time): time.description
        }
    }
}
