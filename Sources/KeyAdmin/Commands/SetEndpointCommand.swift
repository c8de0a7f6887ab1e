import KeyStore

/// `--set-endpoint PROVIDER URL [--api STYLE]`: where `--check` asks about the provider's keys;
/// `default` goes back to the built-in endpoint of a well-known name.
struct SetEndpointCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .url],
        help: "where --check asks about the keys: the API's base URL (https), or default", writes: true,
        example: "keyadmin --set-endpoint azure https://example.openai.azure.com/openai/v1"
    ) { values, modifiers throws(UsageError) in
        SetEndpointCommand(name: try values.provider(), endpoint: try values.endpoint(style: modifiers.values[.api]))
    }

    let name: ProviderName
    /// `nil`: the built-in one.
    let endpoint: ProviderEndpoint?

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let changed = try context.store.setEndpoint(endpoint, for: name)
        let effective = endpoint ?? ProviderEndpoint.builtIn(for: name)
        let text: String
        if let endpoint {
            text = "\(name) is checked at \(endpoint.probeURL) (\(endpoint.style) style)"
        } else if let effective {
            text = "\(name) is checked at its built-in endpoint, \(effective.probeURL) (\(effective.style) style)"
        } else {
            text = "\(name) has no endpoint now: --check needs one (keyadmin --set-endpoint \(name) URL)"
        }
        return .report(
            changed ? text : "\(text); nothing changed",
            [
                JSONMember("provider", .string(name.rawValue)),
                JSONMember("endpoint_url", effective.map { .string($0.url.rawValue) } ?? .null),
                JSONMember("api_style", effective.map { .string($0.style.rawValue) } ?? .null),
                JSONMember("probe_url", effective.map { .string($0.probeURL) } ?? .null),
                JSONMember("built_in", .bool(endpoint == nil && effective != nil)),
                JSONMember("changed", .bool(changed)),
            ])
    }
}
