import KeyStore

/// `--list [--provider NAME] [--reveal] [--state STATE] [--summary]`: an aligned table per
/// provider, or one JSON document, written while the keys stream in from the server (memory
/// stays flat for any number of keys).
struct ListCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "every provider with its key count and its keys, masked", writes: false
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
            var layout = ListLayout(reveal: reveal, summary: summary, stream: stream)
            try context.store.list(
                provider: provider, state: state, includingKeys: !summary,
                summaries: { summaries in
                    // Opened once the provider is known to exist.
                    layout.begin(summaries)
                },
                key: { key in
                    // Keys arrive ordered by provider; providers without keys have no rows and
                    // are printed when the rows pass them.
                    while layout.current?.name != key.provider, layout.openNextProvider() {}
                    layout.printKey(key)
                })
            while layout.openNextProvider() {}
            layout.end()
        }
    }
}

/// The listing as it is written: which provider is open, and the column widths.
private struct ListLayout {
    let reveal: Bool
    /// Providers only: no key rows, no column headings.
    let summary: Bool
    let stream: ResultStream
    /// Read once: whether the terminal takes colour does not change during a listing.
    let colour: Bool
    /// Today's date (UTC), read once per listing, not once per key: a cooldown ending on another
    /// day shows its date.
    let today = String(UTCTime.now.description.prefix(10))
    private var pending: ArraySlice<ProviderSummary> = []
    private(set) var current: ProviderSummary?
    private var providersPrinted = 0
    private var numberWidth = 2
    private var keyWidth = 10
    private var labelWidth = 0

    init(reveal: Bool, summary: Bool, stream: ResultStream) {
        self.reveal = reveal
        self.summary = summary
        self.stream = stream
        colour = stream.usesColour
    }

    mutating func begin(_ summaries: [ProviderSummary]) {
        stream.open()
        pending = summaries[...]
        if let json = stream.json {
            json.name("providers")
            json.beginArray()
        } else if summaries.isEmpty {
            stream.line("no providers yet; add one with keyadmin --add-provider NAME")
        }
    }

    mutating func end() {
        closeProvider()
        stream.json?.endArray()
    }

    /// Ends the provider being printed and starts the next; `false` when none is left.
    mutating func openNextProvider() -> Bool {
        guard let next = pending.popFirst() else { return false }
        closeProvider()
        current = next
        defer { providersPrinted += 1 }
        if let json = stream.json {
            json.beginObject()
            json.members([
                JSONMember("provider", .string(next.name)), JSONMember("key_count", .number(next.keyCount)),
                JSONMember(
                    "states",
                    .object(KeyState.allCases.map { JSONMember($0.rawValue, .number(next.stateCounts[$0] ?? 0)) })),
                JSONMember("created_at", .string(next.createdAt)),
                JSONMember(
                    "tiers",
                    .array(
                        next.tiers.map {
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
            return true
        }
        if summary {
            stream.line(Style.bold.apply(next.name, when: colour) + "  " + Self.summary(of: next))
            if let tiers = Self.tierLine(of: next) { stream.line("  " + tiers) }
            return true
        }
        if providersPrinted > 0 { stream.line("") }
        stream.line(
            Style.bold.apply(next.name, when: colour) + "  "
                + Style.dim.apply("(\(Self.summary(of: next)))", when: colour))
        if let tiers = Self.tierLine(of: next) { stream.line("  " + Style.dim.apply(tiers, when: colour)) }
        numberWidth = String(next.highestNumber).count + 1
        keyWidth = reveal ? max(3, next.longestKey) : 10
        labelWidth = next.longestLabel
        if next.keyCount == 0 {
            stream.line("  no keys; add some with keyadmin --add-bulk \(next.name)")
        } else if next.matchingCount == 0 {
            stream.line("  no keys in that state")
        } else {
            let label = labelWidth > 0 ? padded("label", to: max(5, labelWidth)) + "  " : ""
            stream.line(
                Style.dim.apply(
                    "  " + padded("#", to: numberWidth, alignRight: true) + "  " + padded("key", to: keyWidth) + "  "
                        + padded("fingerprint", to: 12) + "  " + padded("created", to: 20) + "  " + label + "state",
                    when: colour))
            if labelWidth > 0 { labelWidth = max(5, labelWidth) }
        }
        return true
    }

    /// "10 keys: 7 available, 2 cooling down, 1 disabled"
    static func summary(of provider: ProviderSummary) -> String {
        let count = "\(provider.keyCount) key\(provider.keyCount == 1 ? "" : "s")"
        if provider.keyCount == 0 { return count }
        if provider.stateCounts[.available] == provider.keyCount { return count + ", all available" }
        let parts = KeyState.allCases.compactMap { state -> String? in
            guard let n = provider.stateCounts[state], n > 0 else { return nil }
            return "\(n) \(state.words)"
        }
        return count + ": " + parts.joined(separator: ", ")
    }

    /// "tier 1: 4 keys, 3 available; tier 2: 2 keys, 2 available", when a provider has keys
    /// outside tier 1 (a pool of one tier says nothing new with it).
    static func tierLine(of provider: ProviderSummary) -> String? {
        guard provider.tiers.contains(where: { $0.tier != .primary }) else { return nil }
        return provider.tiers.map {
            "tier \($0.tier): \($0.keyCount) key\($0.keyCount == 1 ? "" : "s"), \($0.availableCount) available"
        }.joined(separator: "; ")
    }

    mutating func closeProvider() {
        if let json = stream.json, current != nil {
            if !summary { json.endArray() }
            json.endObject()
        }
        current = nil
    }

    func printKey(_ key: StoredKey) {
        let shown = reveal ? key.key.revealed : key.key.masked
        if let json = stream.json {
            json.beginObject()
            json.member("number", number: key.number)
            json.member("key", shown)
            json.member("fingerprint", key.fingerprint)
            json.member("created_at", key.createdAt)
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
            json.endObject()
            return
        }
        let label = labelWidth > 0 ? padded(key.label ?? "", to: labelWidth) + "  " : ""
        var state = Self.describe(key, today: today)
        // Tier and weight only where they are not the default.
        let policy = [
            key.tier == .primary ? nil : "tier \(key.tier)", key.weight == .standard ? nil : "weight \(key.weight)",
        ].compactMap { $0 }
        if !policy.isEmpty { state += " [\(policy.joined(separator: ", "))]" }
        let unusable = key.state == .disabled || key.state == .expired
        stream.line(
            "  " + padded("#\(key.number)", to: numberWidth, alignRight: true) + "  " + padded(shown, to: keyWidth)
                + "  "
                + key.fingerprint + "  " + padded(key.createdAt, to: 20) + "  " + label
                + (unusable ? Style.red.apply(state, when: colour) : state))
    }

    /// The state at a glance: "cooling down until 14:05:30Z, in 4 min (2 failures, last HTTP 429)";
    /// a cooldown that ends on another day (UTC) than `today` shows its date too.
    static func describe(_ key: StoredKey, today: String) -> String {
        var text: String
        switch key.state {
        case .available:
            text = "available"
            if let expires = key.expiresAt { text += ", expires \(expires)" }
        case .coolingDown:
            let until = key.cooldownUntil.map { $0.hasPrefix(today) ? String($0.dropFirst(11)) : $0 } ?? "?"
            text = "cooling down until \(until)" + (key.cooldownSecondsLeft.map { ", in \(duration($0))" } ?? "")
        case .disabled:
            text = key.disabledAutomatically ? "disabled automatically" : "disabled"
            if let reason = key.reason { text += ": \(reason)" }
            let by = [key.disabledBy.map { "by \($0)" }, key.disabledAt].compactMap { $0 }
            if !by.isEmpty { text += " (\(by.joined(separator: ", ")))" }
        case .expired:
            text = "expired" + (key.expiresAt.map { " \($0)" } ?? "")
        }
        if key.consecutiveFailures > 0, key.state != .disabled {
            text +=
                " (\(key.consecutiveFailures) failure\(key.consecutiveFailures == 1 ? "" : "s")"
                + (key.lastStatus.map { ", last HTTP \($0)" } ?? "") + ")"
        }
        return text
    }

    static func duration(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: "\(seconds) s"
        case ..<3600: "\((seconds + 59) / 60) min"
        default: "\(seconds / 3600) h \((seconds % 3600) / 60) min"
        }
    }
}
