import KeyStore

/// `--history`: one line per event, newest first, readable at a glance:
///
///     2026-11-27T14:00:02Z  ops@laptop  key disabled  openai #3 [4f1c2a9be07d]  available → disabled  "revoked"
///         via postgres, keyadmin, 127.0.0.1
struct HistoryPrinter {
    let json: Bool
    let out: OutputStream
    let database: DatabaseTarget

    func print(_ events: [KeyEvent]) {
        if json {
            let items = events.map { event -> String in
                func text(_ value: String?) -> String { value.map(JSON.string) ?? "null" }
                return "{\"occurred_at\":\(JSON.string(event.occurredAt)),\"action\":\(JSON.string(event.action))"
                    + ",\"provider\":\(text(event.provider)),\"key_number\":\(event.keyNumber.map(String.init) ?? "null")"
                    + ",\"fingerprint\":\(text(event.fingerprint)),\"state_before\":\(text(event.stateBefore))"
                    + ",\"state_after\":\(text(event.stateAfter)),\"reason\":\(text(event.reason))"
                    + ",\"detail\":\(event.detail ?? "null"),\"actor\":\(JSON.string(event.actor))"
                    + ",\"db_role\":\(JSON.string(event.role)),\"application_name\":\(text(event.applicationName))"
                    + ",\"client_address\":\(text(event.clientAddress))}"
            }
            out.line(
                "{\"database\":\(JSON.string(database.address)),\"database_source\":\(JSON.string(database.source))"
                    + ",\"events\":[\(items.joined(separator: ","))]}")
            return
        }
        out.line(Style.dim.apply("database: \(database.label)", when: out.usesColour))
        if events.isEmpty { out.line("no events") }
        for event in events { out.line(Self.describe(event)) }
    }

    static func describe(_ event: KeyEvent) -> String {
        var parts = [event.occurredAt, event.actor, event.action.replacingUnderscores()]
        var target = event.provider ?? ""
        if let number = event.keyNumber { target += " #\(number)" }
        if let fingerprint = event.fingerprint { target += " [\(fingerprint)]" }
        if let range = bulkRange(event.detail) { target += " \(range)" }
        if !target.isEmpty { parts.append(target) }
        switch (event.stateBefore, event.stateAfter) {
        case (let before?, let after?) where before != after: parts.append("\(before) → \(after)")
        case (nil, let after?): parts.append("→ \(after)")
        case (let before?, nil): parts.append("\(before) →")
        default: break
        }
        if let reason = event.reason { parts.append("\"\(reason)\"") }
        let via = [event.role, event.applicationName, event.clientAddress].compactMap { $0 }.filter { !$0.isEmpty }
        return parts.joined(separator: "  ") + "  (via " + via.joined(separator: ", ") + ")"
    }

    /// "10000 keys #1-#10000" for a bulk event, from its detail.
    private static func bulkRange(_ detail: String?) -> String? {
        guard let detail, let count = number(after: "\"count\": ", in: detail),
            let first = number(after: "\"first_number\": ", in: detail),
            let last = number(after: "\"last_number\": ", in: detail)
        else { return nil }
        return "\(count) keys #\(first)-#\(last)"
    }

    private static func number(after marker: String, in text: String) -> Int? {
        guard let range = text.firstRange(of: marker) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }
}
