import KeyStore

/// `--list`: an aligned table per provider, or one JSON document, written while the keys stream
/// in from the server (memory stays flat for any number of keys).
struct ListPrinter {
    let json: Bool
    let reveal: Bool
    let out: OutputStream
    let database: DatabaseTarget

    func print(store: KeyStore, provider: ProviderName?, state: KeyState?) throws(KeyStoreError) {
        var layout = Layout(
            json: json, reveal: reveal, filtered: state != nil, out: out, colour: out.usesColour && !json)
        try store.list(
            provider: provider, state: state,
            summaries: { summaries in
                // Written once the provider is known to exist (stdout is held under --json anyway).
                if json {
                    out.write(
                        "{\"database\":\(JSON.string(database.address)),\"database_source\":\(JSON.string(database.source)),\"providers\":["
                    )
                } else {
                    out.line(Style.dim.apply("database: \(database.label)", when: out.usesColour))
                }
                layout.pending = summaries[...]
                if summaries.isEmpty, !json {
                    out.line("no providers yet; add one with keyadmin --add-provider NAME")
                }
            },
            key: { key in
                // Keys arrive ordered by provider; providers without keys have no rows and are
                // printed when the rows pass them.
                while layout.current?.name != key.provider, layout.openNextProvider() {}
                layout.printKey(key)
            })
        while layout.openNextProvider() {}
        layout.closeProvider()
        if json { out.line("]}") }
    }
}

private struct Layout {
    let json: Bool
    let reveal: Bool
    /// `--state` was given: a provider may have keys and none to show.
    let filtered: Bool
    let out: OutputStream
    let colour: Bool
    var pending: ArraySlice<ProviderSummary> = []
    private(set) var current: ProviderSummary?
    private var providersPrinted = 0
    private var keysPrinted = 0
    private var numberWidth = 2
    private var keyWidth = 10
    private var labelWidth = 0

    init(json: Bool, reveal: Bool, filtered: Bool, out: OutputStream, colour: Bool) {
        self.json = json
        self.reveal = reveal
        self.filtered = filtered
        self.out = out
        self.colour = colour
    }

    /// Ends the provider being printed and starts the next; `false` when none is left.
    mutating func openNextProvider() -> Bool {
        guard let next = pending.popFirst() else { return false }
        closeProvider()
        current = next
        keysPrinted = 0
        defer { providersPrinted += 1 }
        if json {
            let states = KeyState.allCases.map { "\(JSON.string($0.rawValue)):\(next.stateCounts[$0] ?? 0)" }.joined(
                separator: ",")
            out.write(providersPrinted > 0 ? "," : "")
            out.write(
                "{\"provider\":\(JSON.string(next.name)),\"key_count\":\(next.keyCount),\"states\":{\(states)},\"created_at\":\(JSON.string(next.createdAt)),\"keys\":["
            )
            return true
        }
        if providersPrinted > 0 { out.line("") }
        out.line(
            Style.bold.apply(next.name, when: colour) + "  "
                + Style.dim.apply("(\(Self.summary(of: next)))", when: colour))
        numberWidth = String(next.highestNumber).count + 1
        keyWidth = reveal ? max(3, next.longestKey) : 10
        labelWidth = next.longestLabel
        if next.keyCount == 0 {
            out.line("  no keys; add some with keyadmin --add-bulk \(next.name)")
        } else if next.matchingCount == 0 {
            out.line("  no keys in that state")
        } else {
            let label = labelWidth > 0 ? pad("label", max(5, labelWidth)) + "  " : ""
            out.line(
                Style.dim.apply(
                    "  " + pad("#", numberWidth, right: true) + "  " + pad("key", keyWidth) + "  "
                        + pad("fingerprint", 12) + "  " + pad("created", 20) + "  " + label + "state", when: colour))
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

    mutating func closeProvider() {
        if json, current != nil { out.write("]}") }
        current = nil
    }

    mutating func printKey(_ key: StoredKey) {
        let shown = reveal ? key.key.revealed : key.key.masked
        defer { keysPrinted += 1 }
        if json {
            func text(_ value: String?) -> String { value.map(JSON.string) ?? "null" }
            out.write(keysPrinted > 0 ? "," : "")
            out.write(
                "{\"number\":\(key.number),\"key\":\(JSON.string(shown)),\"fingerprint\":\(JSON.string(key.fingerprint))"
                    + ",\"created_at\":\(JSON.string(key.createdAt))"
                    + ",\"state\":\(JSON.string(key.state.rawValue)),\"reason\":\(text(key.reason))"
                    + ",\"disabled_at\":\(text(key.disabledAt)),\"disabled_by\":\(text(key.disabledBy))"
                    + ",\"disabled_automatically\":\(key.disabledAutomatically),\"label\":\(text(key.label))"
                    + ",\"expires_at\":\(text(key.expiresAt)),\"cooldown_until\":\(text(key.cooldownUntil))"
                    + ",\"consecutive_failures\":\(key.consecutiveFailures)"
                    + ",\"last_status\":\(key.lastStatus.map(String.init) ?? "null")"
                    + ",\"last_reported_at\":\(text(key.lastReportedAt))}")
            return
        }
        let label = labelWidth > 0 ? pad(key.label ?? "", labelWidth) + "  " : ""
        let state = Self.describe(key)
        let unusable = key.state == .disabled || key.state == .expired
        out.line(
            "  " + pad("#\(key.number)", numberWidth, right: true) + "  " + pad(shown, keyWidth) + "  "
                + key.fingerprint + "  " + pad(key.createdAt, 20) + "  " + label
                + (unusable ? Style.red.apply(state, when: colour) : state))
    }

    /// The state at a glance: "cooling down until 14:05:30Z, in 4 min (2 failures, last HTTP 429)".
    static func describe(_ key: StoredKey) -> String {
        var text: String
        switch key.state {
        case .available:
            text = "available"
            if let expires = key.expiresAt { text += ", expires \(expires)" }
        case .coolingDown:
            let until = key.cooldownUntil.map { String($0.dropFirst(11)) } ?? "?"
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

    /// Widths in Unicode scalars: keys are ASCII and the mask's "…" is one scalar, and counting
    /// grapheme clusters for every row of a long listing costs more than the rest of it.
    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.unicodeScalars.count))
        return right ? padding + text : text + padding
    }
}
