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
        if let bulk = event.bulk {
            target += " \(bulk.count) keys #\(bulk.numbers.lowerBound)-#\(bulk.numbers.upperBound)"
        }
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
}
