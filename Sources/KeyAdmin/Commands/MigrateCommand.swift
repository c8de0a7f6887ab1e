import KeyStore

/// `--migrate [--dry-run]`
struct MigrateCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "apply the migrations this database has not had yet", writes: true,
        example: "keyadmin --migrate --dry-run"
    ) { _, modifiers throws(UsageError) in
        MigrateCommand(dryRun: modifiers.has(.dryRun))
    }

    let dryRun: Bool

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let outcome = try context.store.migrate(dryRun: dryRun)
        for warning in outcome.warnings {
            let text = warning.hasPrefix("WARNING:") ? String(warning.dropFirst("WARNING:".count)) : warning
            context.printer.warning(text.trimmingASCIIWhitespace())
        }
        var lines = outcome.applied.map { "\(dryRun ? "would apply" : "applied") \($0.fileName)" }
        if outcome.applied.isEmpty {
            let count = outcome.alreadyApplied.count
            lines.append("the database is up to date (\(count) migration\(count == 1 ? "" : "s") applied)")
        }
        return .report(
            lines,
            [
                JSONMember("dry_run", .bool(dryRun)),
                JSONMember("applied", .array(outcome.applied.map { .string($0.fileName) })),
                JSONMember("already_applied", .array(outcome.alreadyApplied.map { .string($0.fileName) })),
            ])
    }
}
