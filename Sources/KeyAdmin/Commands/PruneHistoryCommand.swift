import KeyStore

/// `--prune-history --before WHEN`
struct PruneHistoryCommand {
    static let entry = CommandEntry(
        values: [], help: "delete the history before --before WHEN (the trail's owner only), recording it",
        writes: true
    ) { _, modifiers throws(UsageError) in
        .pruneHistory(before: try modifiers.time(.before, required: true) ?? "")
    }

    let before: String

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let deleted = try context.store.pruneHistory(before: before)
        return .report(
            "deleted \(deleted) event\(deleted == 1 ? "" : "s") before \(before); the pruning itself is recorded",
            [JSONMember("before", .string(before)), JSONMember("deleted", .number(deleted))])
    }
}
