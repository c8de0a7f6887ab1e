import KeyStore

/// `--set-quota PROVIDER [--requests-per-day N] [--tokens-per-day N]` (`none` clears one, one not
/// given is kept): a daily budget for each account of the provider; reached, the account rests
/// until the provider's reset.
struct SetQuotaCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider],
        help: "a daily budget for each account of the provider: reached, its keys rest until the reset",
        writes: true,
        example: "keyadmin --set-quota gemini --requests-per-day 1500   # a free tier's day"
    ) { values, modifiers throws(UsageError) in
        SetQuotaCommand(name: try values.provider(), change: try modifiers.quota())
    }

    let name: ProviderName
    let change: QuotaChange

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (quota, changed) = try context.store.setQuota(change, of: name)
        let text =
            quota == .none ? "\(name) has no daily quota" : "each account of \(name) may use \(quota.sentence)"
        return .report(
            changed ? text : "\(text) already; nothing changed",
            [
                JSONMember("provider", .string(name.rawValue)),
                JSONMember("requests_per_day", quota.requests.map { .number($0) } ?? .null),
                JSONMember("tokens_per_day", quota.tokens.map { .number($0) } ?? .null),
                JSONMember("changed", .bool(changed)),
            ])
    }
}
