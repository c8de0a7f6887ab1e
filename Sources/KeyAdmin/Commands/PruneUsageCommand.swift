import KeyStore

/// `--prune-usage --before WHEN`: delete the usage days before WHEN's day (in each provider's
/// reset zone); the totals `--metrics` exports keep what they counted.
struct PruneUsageCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "delete usage days before --before WHEN (totals keep them), recording it",
        writes: true,
        example: "keyadmin --prune-usage --before 2026-11-01 --yes"
    ) { _, modifiers throws(UsageError) in
        PruneUsageCommand(before: try modifiers.pastCutoff(deleting: "today's counts"))
    }

    let before: UTCTime

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        if try context.shouldAsk(before: "--prune-usage", deletes: "usage days before \(before)") {
            try context.requireYes(to: "Delete the usage days before \(before) in \(context.target.address)?")
        }
        let deleted = try context.store.pruneUsage(before: before)
        return .report(
            "deleted \(deleted) key-day\(deleted == 1 ? "" : "s") of usage before \(before); "
                + "the totals keep their counts, and the pruning is recorded",
            [JSONMember("before", .string(before.description)), JSONMember("deleted", .number(deleted))])
    }
}
