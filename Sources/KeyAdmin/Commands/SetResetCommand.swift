import KeyStore

/// `--set-reset PROVIDER ZONE`: the zone whose midnight resets the provider's daily limits;
/// `default` goes back to the built-in one (America/Los_Angeles for google and gemini, else UTC).
struct SetResetCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .zone],
        help: "the time zone whose midnight resets the provider's daily limits (IANA name, or default)",
        writes: true,
        example: "keyadmin --set-reset groq UTC"
    ) { values, _ throws(UsageError) in
        SetResetCommand(name: try values.provider(), zone: try values.zone())
    }

    let name: ProviderName
    /// `nil`: the built-in one.
    let zone: String?

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (effective, changed) = try context.store.setResetZone(zone, of: name)
        let text = "the daily limits of \(name) reset at midnight \(effective)" + (zone == nil ? " (built in)" : "")
        return .report(
            changed ? text : "\(text); nothing changed",
            [
                JSONMember("provider", .string(name.rawValue)), JSONMember("reset_zone", .string(effective)),
                JSONMember("built_in", .bool(zone == nil)), JSONMember("changed", .bool(changed)),
            ])
    }
}
