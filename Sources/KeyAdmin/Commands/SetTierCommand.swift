import KeyStore

/// `--set-tier PROVIDER NUM TIER`
struct SetTierCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number, .tier], help: "move key NUM to tier 1-9 (2 serves only when 1 has no key)",
        writes: true,
        example: "keyadmin --set-tier openai 7 2         # a backup: serves when tier 1 has none"
    ) { values, _ throws(UsageError) in
        SetTierCommand(name: try values.provider(), number: try values.number(), tier: try values.tier())
    }

    let name: ProviderName
    let number: Int
    let tier: KeyTier

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, changed) = try context.store.setTier(tier, number: number, of: name)
        return .keyChange(
            name, number, key, changed: changed,
            text: changed
                ? "key #\(number) of \(name) (\(key.masked)) is in tier \(tier) now"
                : "key #\(number) of \(name) (\(key.masked)) is in tier \(tier) already; nothing changed",
            value: JSONMember("tier", .number(tier.rawValue)))
    }
}
