import KeyStore

/// `--metrics`: the pools in Prometheus' text exposition format (0.0.4) on stdout, for
/// node_exporter's textfile collector or any scraper. No key, and no label of unbounded
/// cardinality (no key numbers, no accounts): provider, tier, state, outcome.
struct MetricsCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "the pools as Prometheus metrics: keys by state, requests and tokens, exhausted accounts",
        writes: false,
        example: "keyadmin --metrics                     # for node_exporter's textfile collector (docs/monitoring.md)"
    ) { _, modifiers throws(UsageError) in
        if modifiers.has(.json) {
            throw UsageError("--metrics prints Prometheus' text format: --json does not go with it")
        }
        return MetricsCommand()
    }

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let metrics = try context.store.metrics()
        return CommandResult(body: .exposition(PrometheusText.render(metrics)))
    }
}
