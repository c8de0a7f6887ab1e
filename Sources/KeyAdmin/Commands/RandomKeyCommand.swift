import KeyStore

/// `--random-key PROVIDER [--affinity TEXT]`: an available key alone on stdout, drawn as
/// backends draw it: from the lowest tier that has one, in proportion to weight
/// (`get_random_api_key`), or, with `--affinity`, the same key for the same text while it stays
/// available and its tier serves (`get_sticky_api_key`).
struct RandomKeyCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider], help: "print an available key alone on its line, drawn by tier and weight", writes: false,
        example: "export OPENAI_API_KEY=$(keyadmin --random-key openai --affinity chat-42)"
    ) { values, modifiers throws(UsageError) in
        RandomKeyCommand(name: try values.provider(), affinity: try modifiers.affinity())
    }

    let name: ProviderName
    /// `--affinity`: a conversation or user id; never printed (it may be anything).
    var affinity: String? = nil

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let drawn = try context.store.drawKey(of: name, affinity: affinity)
        if let rest = drawn.rest {
            context.printer.warning(
                "no key of \(name) is available: every enabled one is exhausted or cooling down; "
                    + "this is the one whose rest ends first (\(rest))")
        }
        return CommandResult(
            body: .secret(
                drawn.key,
                members: [JSONMember("provider", .string(name.rawValue)), JSONMember("sticky", .bool(affinity != nil))])
        )
    }
}
