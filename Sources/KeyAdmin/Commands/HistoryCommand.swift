import KeyStore

/// `--history [--provider NAME] [--key NUM] [--since WHEN] [--limit N]`: one line per event,
/// newest first, readable at a glance:
///
///     2026-11-27T14:00:02Z  ops@laptop  key disabled  openai #3 [4f1c2a9be07d]  available → disabled  "revoked"
///         via postgres, keyadmin, 127.0.0.1
struct HistoryCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "every change to the keys, newest first: when, who, what (keys as fingerprints)",
        writes: false,
        example: "keyadmin --history --provider openai --since 2026-12-01"
    ) { _, modifiers throws(UsageError) in
        HistoryCommand(filter: try modifiers.historyFilter())
    }

    let filter: HistoryFilter

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let events = try context.store.history(filter)
        return .streamed { stream in
            guard let json = stream.json else {
                if events.isEmpty { stream.line("no events") }
                for event in events { stream.line(Self.describe(event)) }
                return
            }
            json.name("events")
            json.beginArray()
            for event in events { Self.write(event, to: json) }
            json.endArray()
        }
    }

    static func write(_ event: KeyEvent, to json: JSONWriter) {
        json.beginObject()
        json.member("occurred_at", event.occurredAt)
        json.member("action", event.action)
        json.member("provider", event.provider)
        json.member("key_number", number: event.keyNumber)
        json.member("fingerprint", event.fingerprint)
        json.member("state_before", event.stateBefore)
        json.member("state_after", event.stateAfter)
        json.member("reason", event.reason)
        json.name("detail")
        json.value(event.detail.map(JSONValue.fromDatabase) ?? .null)
        json.member("actor", event.actor)
        json.member("db_role", event.role)
        json.member("application_name", event.applicationName)
        json.member("client_address", event.clientAddress)
        json.endObject()
    }

    static func describe(_ event: KeyEvent) -> String {
        var parts = [event.occurredAt, event.actor, event.action.replacingUnderscores()]
        var target = event.provider ?? ""
        if let number = event.keyNumber { target += " #\(number)" }
        if let fingerprint = event.fingerprint { target += " [\(fingerprint)]" }
        if let bulk = event.bulk {
            target += " \(bulk.count) keys #\(bulk.numbers.lowerBound)-#\(bulk.numbers.upperBound)"
        }
        if let keys = event.deletedKeyCount { target += " with its \(keys) key\(keys == 1 ? "" : "s")" }
        if !target.isEmpty { parts.append(target) }
        if let label = event.label { parts.append(label.isEmpty ? "label cleared" : "label \"\(label)\"") }
        if let expiry = event.expiry { parts.append(expiry == "never" ? "never expires" : "expires \(expiry)") }
        if let tier = event.tier { parts.append("tier \(tier)") }
        if let weight = event.weight { parts.append("weight \(weight)") }
        if let note = event.note { parts.append(note) }
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
