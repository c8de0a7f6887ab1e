import KeyStore

/// `--prune-usage --before WHEN`: delete the usage days before WHEN's day (in each provider's
/// reset zone); the totals `--metrics` exports keep what they counted.
struct PruneUsageCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "delete usage days before --before WHEN (totals keep them), recording it",
        writes: true,
        example: "keyadmin --prune-usage --before 2026-11-01 --yes"
    ) { _, modifiers throws(UsageError) in
        let before = try modifiers.time(.before, required: true) ?? UTCTime(secondsSinceEpoch: 0)
        guard before <= .now else {
            throw UsageError(
                "--before \(before) is later than now; it would delete today's counts (give a time in the past)")
        }
        return PruneUsageCommand(before: before)
    }

    let before: UTCTime

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        if try context.shouldAsk(before: "--prune-usage", deletes: "usage days before \(before)") {
            let answer = Terminal.ask("Delete the usage days before \(before) in \(context.target.address)? [y/N] ")
            guard let answer, ["y", "yes"].contains(answer.trimmingASCIIWhitespace().lowercased()) else {
                throw .invalidInput("not confirmed; nothing was deleted", hint: nil)
            }
        }
        let deleted = try context.store.pruneUsage(before: before)
        return .report(
            "deleted \(deleted) key-day\(deleted == 1 ? "" : "s") of usage before \(before); "
                + "the totals keep their counts, and the pruning is recorded",
            [JSONMember("before", .string(before.description)), JSONMember("deleted", .number(deleted))])
    }
}
