import Postgres

/// A key's health, in the words `--json` and `report_api_key_result` use.
public enum KeyState: String, Sendable, CaseIterable {
    case available
    case coolingDown = "cooling_down"
    /// A daily limit (the provider's or a quota) is used up: it rests until the provider's reset.
    case exhausted
    case disabled
    case expired

    /// What `--list --state` accepts: the JSON word, or a short form (`cooling`).
    public init?(filter text: String) {
        switch text.lowercased() {
        case "available": self = .available
        case "cooling", "cooling_down", "cooling-down", "cooldown": self = .coolingDown
        case "exhausted": self = .exhausted
        case "disabled": self = .disabled
        case "expired": self = .expired
        default: return nil
        }
    }

    /// The words `--list --state` is given, one per state, as help and completions show them.
    public static let filterWords = ["available", "cooling", "exhausted", "disabled", "expired"]

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

/// When a key stops being served: never, now, or from a time (`--set-expiry`, `--expires`).
public enum Expiry: Hashable, Sendable {
    case never
    /// The moment the change is made (the server's transaction time): "expire it now".
    case now
    /// A time, in UTC.
    case at(UTCTime)

    /// `never`, `now`, or a time as `UTCTime` reads it. Errors never quote the input.
    public init(parsing input: String) throws(KeyStoreError) {
        let text = input.trimmingASCIIWhitespace()
        switch text.lowercased() {
        case "never": self = .never
        case "now": self = .now
        default: self = .at(try Self.time(text, what: "the expiry", forms: "now or never"))
        }
    }

    /// A point in time for `--since` and `--before`: the same forms, without `never` and `now`.
    public static func time(parsing input: String, what: String) throws(KeyStoreError) -> UTCTime {
        try time(input.trimmingASCIIWhitespace(), what: what, forms: nil)
    }

    /// `text` read by `UTCTime`; a key given instead is refused unseen, and the hint names the
    /// forms there are (and `extra` ones).
    private static func time(_ text: String, what: String, forms extra: String?) throws(KeyStoreError) -> UTCTime {
        guard let time = UTCTime(iso8601: text) else {
            if KeyShape.looksLikeKey(text) { throw KeyShape.misplacedKeyError(expected: "a date") }
            let forms = "2026-12-31, 2026-12-31T18:00:00Z or 2026-12-31T18:00+02:00"
            throw .invalidInput(
                "\(what) is not an ISO 8601 date or date-time",
                hint: "write it as " + (extra.map { forms.replacing(" or ", with: ", ") + ", \($0)" } ?? forms))
        }
        return time
    }

    /// A time before `now` (by this machine's clock): a key given it would be out of rotation
    /// at once, which is almost always a typo.
    public func isInThePast(now: UTCTime = .now) -> Bool {
        if case .at(let time) = self { return time < now }
        return false
    }

    /// The value for the expires_at column: NULL for never; PostgreSQL's 'now' is the
    /// transaction's start.
    var timestamp: String? {
        switch self {
        case .never: nil
        case .now: "now"
        case .at(let time): time.description
        }
    }
}

/// Settings a new key starts with (`--label`, `--expires`).
public struct NewKeyOptions: Hashable, Sendable {
    /// A short note shown with the key; never a secret.
    public var label: OperatorText?
    /// When the key stops being served.
    public var expiry: Expiry?
    /// The tier; tier 1 when not given.
    public var tier: KeyTier?
    /// The weight; 1 when not given.
    public var weight: KeyWeight?
    /// The provider's project or organisation the keys belong to; each its own when not given.
    public var account: AccountName?

    /// Settings for new keys; by default no label, no expiry, tier 1, weight 1, no account.
    public init(
        label: OperatorText? = nil, expiry: Expiry? = nil, tier: KeyTier? = nil, weight: KeyWeight? = nil,
        account: AccountName? = nil
    ) {
        self.label = label
        self.expiry = expiry
        self.tier = tier
        self.weight = weight
        self.account = account
    }
}

extension KeyStore {
    /// What `disableKey` did.
    public enum DisableOutcome: Sendable, Equatable {
        /// The key was enabled, and is disabled now.
        case disabled
        /// The key was disabled already; its reason is the new one now.
        case reasonChanged
        /// The key was disabled already, for that reason (or no reason was given).
        case alreadyDisabled
    }

    /// Disables key `number` by hand; nothing but an operator enables it again. A key disabled
    /// already keeps its time, and takes `reason` when one is given and it differs. Returns the
    /// key (to show it masked) and what happened.
    public func disableKey(
        number: Int, of name: ProviderName, reason: OperatorText?, actor: OperatorText
    ) throws(KeyStoreError) -> (key: APIKey, outcome: DisableOutcome) {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                let updated = try transaction.query(
                    """
                    UPDATE public.provider_api_keys AS k
                    SET disabled_at = coalesce(k.disabled_at, now()),
                        disabled_automatically = k.disabled_automatically AND k.disabled_at IS NOT NULL
                                                 AND \(reason?.rawValue)::text IS NULL,
                        disabled_reason = coalesce(\(reason?.rawValue), k.disabled_reason),
                        disabled_by = \(actor.rawValue)
                    WHERE k.provider_id = \(provider) AND k.key_number = \(number)
                      AND (k.disabled_at IS NULL
                           OR (\(reason?.rawValue)::text IS NOT NULL AND k.disabled_reason IS DISTINCT FROM \(reason?.rawValue)))
                    -- now() is the transaction's start: only a key disabled by this statement has it.
                    RETURNING k.api_key, k.disabled_at = now() AS newly_disabled
                    """, step: "disabling key #\(number) of \(name)")
                if let row = updated.rows.first {
                    let newly: Bool = try row.decode("newly_disabled")
                    return (APIKey(checked: try row.decode("api_key")), newly ? .disabled : .reasonChanged)
                }
                guard let key = try storedKey(number: number, provider: provider, in: transaction) else {
                    throw KeyStoreError.keyNotFound(name, number: number)
                }
                return (key, .alreadyDisabled)
            }
        }
    }

    /// Enables key `number` and clears its cooldown, its exhaustion and its failure count.
    public func enableKey(number: Int, of name: ProviderName) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        try changeKey(number: number, of: name, step: "enabling key #\(number) of \(name)") { provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k
                SET disabled_at = NULL, disabled_automatically = false, disabled_reason = NULL, disabled_by = NULL,
                    cooldown_until = '-infinity', exhausted_until = NULL, consecutive_failures = 0
                WHERE k.provider_id = \(provider) AND k.key_number = \(number)
                  AND (k.disabled_at IS NOT NULL OR k.cooldown_until > '-infinity' OR k.consecutive_failures <> 0
                       OR k.exhausted_until IS NOT NULL)
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
    func changeKey(
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
