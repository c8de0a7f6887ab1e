import KeyStore

/// `--prune-history --before WHEN`
struct PruneHistoryCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "delete the history before --before WHEN (the trail's owner only), recording it",
        writes: true,
        example: "keyadmin --prune-history --before 2026-01-01 --yes"
    ) { _, modifiers throws(UsageError) in
        // A time to come would take every event, the last minutes' included: never what is meant.
        PruneHistoryCommand(before: try modifiers.pastCutoff(deleting: "every event"))
    }

    let before: UTCTime

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        try confirm(context)
        let deleted = try context.store.pruneHistory(before: before)
        return .report(
            "deleted \(deleted) event\(deleted == 1 ? "" : "s") before \(before); the pruning itself is recorded",
            [JSONMember("before", .string(before.description)), JSONMember("deleted", .number(deleted))])
    }

    /// On a terminal without --yes, says how many events would go and asks; elsewhere needs --yes.
    private func confirm(_ context: CommandContext) throws(KeyStoreError) {
        guard try context.shouldAsk(before: "--prune-history", deletes: "events before \(before)") else { return }
        let count = try context.store.eventCount(before: before)
        try context.requireYes(
            to: "Delete \(count) event\(count == 1 ? "" : "s") before \(before) in \(context.target.address)?")
    }
}
