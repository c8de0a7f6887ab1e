import KeyStore

/// `--list --json`: `"providers": [{..., "keys": [...]}, ...]` inside the printer's envelope.
final class ListJSONRenderer: ListRenderer {
    private let json: JSONWriter
    private let reveal: Bool
    /// Providers only: no `keys` arrays.
    private let summary: Bool
    private var providerOpen = false

    init(json: JSONWriter, reveal: Bool, summary: Bool) {
        self.json = json
        self.reveal = reveal
        self.summary = summary
    }

    func begin(_ summaries: [ProviderSummary]) {
        json.name("providers")
        json.beginArray()
    }

    func open(_ provider: ProviderSummary) {
        closeProvider()
        providerOpen = true
        json.beginObject()
        json.members([
            JSONMember("provider", .string(provider.name)), JSONMember("key_count", .number(provider.keyCount)),
            JSONMember(
                "states",
                .object(KeyState.allCases.map { JSONMember($0.rawValue, .number(provider.stateCounts[$0] ?? 0)) })),
            JSONMember("created_at", .string(provider.createdAt)),
            JSONMember("reset_zone", .string(provider.resetZone)),
            JSONMember("requests_per_day", provider.quota.requests.map { .number($0) } ?? .null),
            JSONMember("tokens_per_day", provider.quota.tokens.map { .number($0) } ?? .null),
            JSONMember(
                "tiers",
                .array(
                    provider.tiers.map {
                        .object([
                            JSONMember("tier", .number($0.tier.rawValue)),
                            JSONMember("key_count", .number($0.keyCount)),
                            JSONMember("available", .number($0.availableCount)),
                        ])
                    })),
        ])
        if !summary {
            json.name("keys")
            json.beginArray()
        }
    }

    func key(_ key: StoredKey) {
        json.beginObject()
        json.member("number", number: key.number)
        json.member("key", reveal ? key.key.revealed : key.key.masked)
        json.member("fingerprint", key.fingerprint)
        json.member("created_at", key.createdAt)
        json.member("replaced_at", key.replacedAt)
        json.member("state", key.state.rawValue)
        json.member("tier", number: key.tier.rawValue)
        json.member("weight", number: key.weight.rawValue)
        json.member("reason", key.reason)
        json.member("disabled_at", key.disabledAt)
        json.member("disabled_by", key.disabledBy)
        json.member("disabled_automatically", flag: key.disabledAutomatically)
        json.member("label", key.label)
        json.member("expires_at", key.expiresAt)
        json.member("cooldown_until", key.cooldownUntil)
        json.member("consecutive_failures", number: key.consecutiveFailures)
        json.member("last_status", number: key.lastStatus)
        json.member("last_reported_at", key.lastReportedAt)
        json.member("account", key.account)
        json.member("requests_today", number: key.usageToday.keyRequests)
        json.member("tokens_today", number: key.usageToday.keyTokens)
        json.endObject()
    }

    func end() {
        closeProvider()
        json.endArray()
    }

    private func closeProvider() {
        guard providerOpen else { return }
        if !summary { json.endArray() }
        json.endObject()
        providerOpen = false
    }
}
