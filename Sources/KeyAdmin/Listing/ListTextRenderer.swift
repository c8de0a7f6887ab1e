import KeyStore

/// `--list` for people: a heading per provider with its counts, then an aligned table of its
/// keys, masked unless `--reveal`.
final class ListTextRenderer: ListRenderer {
    private let stream: ResultStream
    private let reveal: Bool
    /// Providers only: no key rows, no column headings.
    private let summary: Bool
    /// Read once: whether the terminal takes colour does not change during a listing.
    private let colour: Bool
    /// Today's date (UTC), read once per listing, not once per key: a cooldown ending on another
    /// day shows its date.
    private let today = String(UTCTime.now.description.prefix(10))
    private var providersPrinted = 0
    private var numberWidth = 2
    private var keyWidth = 10
    private var labelWidth = 0
    /// The provider's daily budget, for "1,500/1,500 requests today".
    private var quota = DailyQuota.none

    init(stream: ResultStream, reveal: Bool, summary: Bool) {
        self.stream = stream
        self.reveal = reveal
        self.summary = summary
        colour = stream.usesColour
    }

    func begin(_ summaries: [ProviderSummary]) {
        if summaries.isEmpty { stream.line("no providers yet; add one with keyadmin --add-provider NAME") }
    }

    func open(_ provider: ProviderSummary) {
        defer { providersPrinted += 1 }
        if summary {
            stream.line(Style.bold.apply(provider.name, when: colour) + "  " + Self.summary(of: provider))
            if let tiers = Self.tierLine(of: provider) { stream.line("  " + tiers) }
            return
        }
        if providersPrinted > 0 { stream.line("") }
        stream.line(
            Style.bold.apply(provider.name, when: colour) + "  "
                + Style.dim.apply("(\(Self.summary(of: provider)))", when: colour))
        if let tiers = Self.tierLine(of: provider) { stream.line("  " + Style.dim.apply(tiers, when: colour)) }
        numberWidth = String(provider.highestNumber).count + 1
        keyWidth = reveal ? max(3, provider.longestKey) : 10
        labelWidth = provider.longestLabel
        quota = provider.quota
        if provider.keyCount == 0 {
            stream.line("  no keys; add some with keyadmin --add-bulk \(provider.name)")
        } else if provider.matchingCount == 0 {
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
    }

    func key(_ key: StoredKey) {
        let shown = reveal ? key.key.revealed : key.key.masked
        let label = labelWidth > 0 ? padded(key.label ?? "", to: labelWidth) + "  " : ""
        var state = Self.describe(key, today: today)
        if let usage = Self.usage(key.usageToday, quota: quota) { state += ", \(usage)" }
        // Tier, weight and account only where they are not the default; a replaced key says when.
        let policy = [
            key.tier == .primary ? nil : "tier \(key.tier)", key.weight == .standard ? nil : "weight \(key.weight)",
            key.account.map { "account \($0)" }, key.replacedAt.map { "replaced \($0)" },
        ].compactMap { $0 }
        if !policy.isEmpty { state += " [\(policy.joined(separator: ", "))]" }
        let unusable = key.state == .disabled || key.state == .expired
        stream.line(
            "  " + padded("#\(key.number)", to: numberWidth, alignRight: true) + "  " + padded(shown, to: keyWidth)
                + "  " + key.fingerprint + "  " + padded(key.createdAt, to: 20) + "  " + label
                + (unusable ? Style.red.apply(state, when: colour) : state))
    }

    func end() {}

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
        case .exhausted:
            let utc = key.cooldownUntil.map { " (\($0.dropFirst(11).prefix(5))Z)" } ?? ""
            text = "exhausted until \(key.exhaustedUntilLocal ?? "the reset")\(utc)"
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

    /// "1,500/1,500 requests today" (against the account's quota), "12 requests today, 3,400
    /// tokens"; `nil` when nothing was counted today and no quota is set.
    static func usage(_ usage: UsageToday, quota: DailyQuota) -> String? {
        var parts: [String] = []
        if let limit = quota.requests {
            parts.append("\(usage.quotaRequests.grouped)/\(limit.grouped) requests today")
        } else if usage.keyRequests > 0 {
            parts.append("\(usage.keyRequests.grouped) request\(usage.keyRequests == 1 ? "" : "s") today")
        }
        if let limit = quota.tokens {
            parts.append("\(usage.quotaTokens.grouped)/\(limit.grouped) tokens")
        } else if usage.keyTokens > 0 {
            parts.append("\(usage.keyTokens.grouped) tokens")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    static func duration(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: "\(seconds) s"
        case ..<3600: "\((seconds + 59) / 60) min"
        default: "\(seconds / 3600) h \((seconds % 3600) / 60) min"
        }
    }
}
