import KeyStore

/// `--list [--provider NAME] [--reveal] [--state STATE] [--summary]`: an aligned table per
/// provider, or one JSON document, written while the keys stream in from the server (memory
/// stays flat for any number of keys).
struct ListCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "every provider with its key count and its keys, masked", writes: false,
        example: "keyadmin --list --provider openai --state cooling"
    ) { _, modifiers throws(UsageError) in
        // A summary counts every state; a filter would leave it saying less than it seems to.
        if modifiers.has(.summary), modifiers.has(.state) || modifiers.has(.reveal) {
            throw UsageError("--summary shows counts, not keys: leave out --state and --reveal")
        }
        return ListCommand(
            provider: try modifiers.provider(), reveal: modifiers.has(.reveal), state: try modifiers.state(),
            summary: modifiers.has(.summary))
    }

    let provider: ProviderName?
    let reveal: Bool
    let state: KeyState?
    /// `--summary`: the providers' lines only.
    let summary: Bool

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        .streamed { stream throws(KeyStoreError) in
            let renderer: any ListRenderer =
                if let json = stream.json {
                    ListJSONRenderer(json: json, reveal: reveal, summary: summary)
                } else {
                    ListTextRenderer(stream: stream, reveal: reveal, summary: summary)
                }
            var pending: ArraySlice<ProviderSummary> = []
            var current: String?
            try context.store.list(
                provider: provider, state: state, includingKeys: !summary,
                summaries: { summaries in
                    // Opened once the provider is known to exist: a refusal prints nothing.
                    stream.open()
                    pending = summaries[...]
                    renderer.begin(summaries)
                },
                key: { key in
                    // Keys arrive ordered by provider; providers without keys have no rows and
                    // are opened when the rows pass them.
                    while current != key.provider, let next = pending.popFirst() {
                        renderer.open(next)
                        current = next.name
                    }
                    renderer.key(key)
                })
            while let next = pending.popFirst() { renderer.open(next) }
            renderer.end()
        }
    }
}
