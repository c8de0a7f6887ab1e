import KeyStore

/// --migrate and --migrate --dry-run.
extension CommandRunner {
    func migrate(dryRun: Bool) throws(KeyStoreError) {
        let outcome = try Migrator(connection: store.connection).run(dryRun: dryRun)
        for warning in outcome.warnings {
            err.line("warning: \(warning.dropPrefix("WARNING:").trimmingASCIIWhitespace())")
        }
        var lines = outcome.applied.map { "\(dryRun ? "would apply" : "applied") \($0.fileName)" }
        if outcome.applied.isEmpty {
            lines.append(
                "the database is up to date (\(outcome.alreadyApplied.count) migration\(outcome.alreadyApplied.count == 1 ? "" : "s") applied)"
            )
        }
        report(
            [
                ("dry_run", .bool(dryRun)),
                ("applied", .array(outcome.applied.map { .string($0.fileName) })),
                ("already_applied", .array(outcome.alreadyApplied.map { .string($0.fileName) })),
            ], text: lines)
    }
}
