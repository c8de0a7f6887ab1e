import Postgres

/// A key's health, in the words `--json` and `report_api_key_result` use.
public enum KeyState: String, Sendable, CaseIterable {
    case available
    case coolingDown = "cooling_down"
    case disabled
    case expired

    /// What `--list --state` accepts: the JSON word, or a short form (`cooling`).
    public init?(filter text: String) {
        switch text.lowercased() {
        case "available": self = .available
        case "cooling", "cooling_down", "cooling-down", "cooldown": self = .coolingDown
        case "disabled": self = .disabled
        case "expired": self = .expired
        default: return nil
        }
    }

    /// For people: "cooling down".
    public var words: String { rawValue.replacingUnderscores() }
}

extension String {
    /// "cooling_down" → "cooling down", for people.
    public func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}

/// Short operator text (a label, a reason, an actor name): printable, one line, at most `limit`
/// characters, and never something that looks like a key (a key pasted into a note would be
/// stored and shown in the clear). Errors never quote it.
public struct OperatorText: Hashable, Sendable, CustomStringConvertible {
    /// The text, trimmed and checked.
    public let rawValue: String

    /// Trims `input` and checks it: one printable line of at most `limit` characters that does not
    /// look like a key. `what` names it in errors ("label", "reason"), which never quote the text.
    public init(validating input: String, what: String, limit: Int) throws(KeyStoreError) {
        let trimmed = input.trimmingASCIIWhitespace()
        if KeyShape.looksLikeKey(trimmed) {
            throw KeyShape.misplacedKeyError(
                expected: (what.first.map { "aeiou".contains($0) } == true ? "an " : "a ") + what)
        }
        if trimmed.unicodeScalars.contains(where: {
            $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value)
        }) {
            throw .invalidInput("the \(what) contains a control character", hint: "give one line of text")
        }
        guard trimmed.count <= limit else {
            throw .invalidInput("the \(what) is \(trimmed.count) characters long; the limit is \(limit)", hint: nil)
        }
        rawValue = trimmed
    }

    /// The text itself: operator text is never secret.
    public var description: String { rawValue }

    /// A key's label: at most 100 characters.
    public static func label(_ text: String) throws(KeyStoreError) -> OperatorText {
        try OperatorText(validating: text, what: "label", limit: 100)
    }

    /// Why a key was disabled: at most 200 characters.
    public static func reason(_ text: String) throws(KeyStoreError) -> OperatorText {
        try OperatorText(validating: text, what: "reason", limit: 200)
    }

    /// Who makes a change, for the audit trail: at most 64 characters.
    public static func actor(_ text: String) throws(KeyStoreError) -> OperatorText {
        try OperatorText(validating: text, what: "actor name", limit: 64)
    }

    /// A default actor name built from the environment: kept when it is valid, else "unknown".
    public static func actorOrUnknown(_ text: String) -> OperatorText {
        (try? actor(text)) ?? OperatorText(rawValue: "unknown")
    }

    private init(rawValue: String) { self.rawValue = rawValue }
}

/// When a key stops being served: never, or from a time (`--set-expiry`, `--expires`).
public enum Expiry: Hashable, Sendable {
    case never
    /// A normalised ISO 8601 date-time with its zone, such as 2026-12-31T00:00:00Z.
    case at(String)

    /// `never`, `YYYY-MM-DD` (midnight UTC), or `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`, `±HH:MM`
    /// or no zone (UTC); a space may stand for the `T`. Errors never quote the input.
    public init(parsing input: String) throws(KeyStoreError) {
        let text = input.trimmingASCIIWhitespace()
        if text.lowercased() == "never" {
            self = .never
            return
        }
        guard let normalised = Self.normalise(text) else {
            if KeyShape.looksLikeKey(text) { throw KeyShape.misplacedKeyError(expected: "a date") }
            throw .invalidInput(
                "the expiry is not an ISO 8601 date or date-time",
                hint: "write it as 2026-12-31, 2026-12-31T18:00:00Z or 2026-12-31T18:00+02:00, or never")
        }
        self = .at(normalised)
    }

    /// A point in time for `--since` and `--before`: the same forms, without `never`.
    public static func time(parsing input: String, what: String) throws(KeyStoreError) -> String {
        let text = input.trimmingASCIIWhitespace()
        guard let normalised = normalise(text) else {
            if KeyShape.looksLikeKey(text) { throw KeyShape.misplacedKeyError(expected: "a date") }
            throw .invalidInput(
                "\(what) is not an ISO 8601 date or date-time",
                hint: "write it as 2026-12-31, 2026-12-31T18:00:00Z or 2026-12-31T18:00+02:00")
        }
        return normalised
    }

    private static func normalise(_ text: String) -> String? {
        let characters = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= characters.count,
                characters[range].allSatisfy({ (0x30...0x39).contains($0) })
            else { return nil }
            return Int(String(decoding: characters[range], as: UTF8.self))
        }
        func at(_ index: Int, is character: Character) -> Bool {
            index < characters.count && characters[index] == character.asciiValue
        }
        guard let year = number(0..<4), at(4, is: "-"), let month = number(5..<7), at(7, is: "-"),
            let day = number(8..<10), (1...12).contains(month), (1970...9999).contains(year)
        else { return nil }
        let daysInMonth = [
            31, year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
        ]
        guard (1...daysInMonth[month - 1]).contains(day) else { return nil }
        let date = String(decoding: characters[0..<10], as: UTF8.self)
        if characters.count == 10 { return date + "T00:00:00Z" }
        guard at(10, is: "T") || at(10, is: "t") || at(10, is: " "), let hour = number(11..<13), at(13, is: ":"),
            let minute = number(14..<16), hour < 24, minute < 60
        else { return nil }
        var index = 16
        var second = 0
        if at(index, is: ":") {
            guard let value = number(17..<19), value < 60 else { return nil }
            second = value
            index = 19
            if at(index, is: ".") {
                index += 1
                let start = index
                while index < characters.count, (0x30...0x39).contains(characters[index]) { index += 1 }
                guard index > start else { return nil }
            }
        }
        let time = String(format2: hour) + ":" + String(format2: minute) + ":" + String(format2: second)
        let rest = String(decoding: characters[index...], as: UTF8.self)
        switch rest {
        case "", "Z", "z": return "\(date)T\(time)Z"
        default:
            let zone = Array(rest.utf8)
            guard zone.count == 6, zone[0] == UInt8(ascii: "+") || zone[0] == UInt8(ascii: "-"),
                zone[3] == UInt8(ascii: ":"),
                let hours = Int(String(decoding: zone[1..<3], as: UTF8.self)),
                let minutes = Int(String(decoding: zone[4..<6], as: UTF8.self)), hours <= 14, minutes < 60
            else { return nil }
            return "\(date)T\(time)\(rest)"
        }
    }

    /// The value for the expires_at column: NULL for never.
    var timestamp: String? {
        switch self {
        case .never: nil
        case .at(let text): text
        }
    }
}

extension String {
    init(format2 value: Int) { self = value < 10 ? "0\(value)" : "\(value)" }
}

/// Settings a new key starts with (`--label`, `--expires`).
public struct NewKeyOptions: Hashable, Sendable {
    /// A short note shown with the key; never a secret.
    public var label: OperatorText?
    /// When the key stops being served.
    public var expiry: Expiry?

    /// Settings for new keys; by default no label and no expiry.
    public init(label: OperatorText? = nil, expiry: Expiry? = nil) {
        self.label = label
        self.expiry = expiry
    }
}

extension KeyStore {
    /// Disables key `number` by hand; nothing but an operator enables it again. Returns the key
    /// (to show it masked) and whether it was enabled before.
    public func disableKey(
        number: Int, of name: ProviderName, reason: OperatorText?, actor: OperatorText
    ) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        try changeKey(number: number, of: name, step: "disabling key #\(number) of \(name)") { provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k
                SET disabled_at = now(), disabled_automatically = false,
                    disabled_reason = \(reason?.rawValue), disabled_by = \(actor.rawValue)
                WHERE k.provider_id = \(provider) AND k.key_number = \(number) AND k.disabled_at IS NULL
                RETURNING k.api_key
                """, step: "disabling key #\(number) of \(name)")
        }
    }

    /// Enables key `number` and clears its cooldown and failure count.
    public func enableKey(number: Int, of name: ProviderName) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        try changeKey(number: number, of: name, step: "enabling key #\(number) of \(name)") { provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k
                SET disabled_at = NULL, disabled_automatically = false, disabled_reason = NULL, disabled_by = NULL,
                    cooldown_until = '-infinity', consecutive_failures = 0
                WHERE k.provider_id = \(provider) AND k.key_number = \(number)
                  AND (k.disabled_at IS NOT NULL OR k.cooldown_until > '-infinity' OR k.consecutive_failures <> 0)
                RETURNING k.api_key
                """, step: "enabling key #\(number) of \(name)")
        }
    }

    /// Sets the label of key `number`; an empty one clears it.
    public func setLabel(
        _ label: OperatorText, number: Int, of name: ProviderName
    ) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        let value: String? = label.rawValue.isEmpty ? nil : label.rawValue
        return try changeKey(number: number, of: name, step: "labelling key #\(number) of \(name)") {
            provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k SET label = \(value)
                WHERE k.provider_id = \(provider) AND k.key_number = \(number) AND k.label IS DISTINCT FROM \(value)
                RETURNING k.api_key
                """, step: "labelling key #\(number) of \(name)")
        }
    }

    /// Sets when key `number` expires, or that it never does.
    public func setExpiry(
        _ expiry: Expiry, number: Int, of name: ProviderName
    ) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        try changeKey(number: number, of: name, step: "setting the expiry of key #\(number) of \(name)") {
            provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k SET expires_at = \(expiry.timestamp)::timestamptz
                WHERE k.provider_id = \(provider) AND k.key_number = \(number)
                  AND k.expires_at IS DISTINCT FROM \(expiry.timestamp)::timestamptz
                RETURNING k.api_key
                """, step: "setting the expiry of key #\(number) of \(name)")
        }
    }

    /// Runs one UPDATE of one key under the provider's lock; an UPDATE that changed nothing is
    /// told apart from a key that does not exist.
    private func changeKey(
        number: Int, of name: ProviderName, step: String, _ update: (Int, Transaction) throws -> QueryResult
    ) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                if let row = try update(provider, transaction).rows.first {
                    return (APIKey(checked: try row.decode("api_key")), true)
                }
                guard let key = try storedKey(number: number, provider: provider, in: transaction) else {
                    throw KeyStoreError.keyNotFound(name, number: number)
                }
                return (key, false)
            }
        }
    }
}
