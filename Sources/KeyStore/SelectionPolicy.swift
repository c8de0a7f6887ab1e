import Postgres

/// A key's tier: 1 (primary) to 9. Keys of tier 2 serve only when tier 1 has no available key,
/// and so on (migration 028).
public struct KeyTier: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// 1 to 9.
    public let rawValue: Int

    /// Every key's tier unless set otherwise.
    public static let primary = KeyTier(checked: 1)
    /// The tiers there are.
    public static let range = 1...9

    /// A tier from text, such as `2`. Errors never quote the input.
    public init(validating text: String) throws(KeyStoreError) {
        guard let value = Int(text.trimmingASCIIWhitespace()), Self.range.contains(value) else {
            if KeyShape.looksLikeKey(text) { throw KeyShape.misplacedKeyError(expected: "a tier") }
            throw .invalidInput("a tier is a whole number from 1 to 9", hint: "1 serves first; 2 when 1 has no key")
        }
        rawValue = value
    }

    init(checked value: Int) { rawValue = value }

    /// The number.
    public var description: String { String(rawValue) }

    /// Orders tiers by the order they serve in.
    public static func < (lhs: KeyTier, rhs: KeyTier) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A key's weight: 1 to 1000. Within a tier, each available key is drawn with probability
/// weight / (sum of the tier's available weights).
public struct KeyWeight: Hashable, Sendable, CustomStringConvertible {
    /// 1 to 1000.
    public let rawValue: Int

    /// Every key's weight unless set otherwise.
    public static let standard = KeyWeight(checked: 1)
    /// The weights there are.
    public static let range = 1...1000

    /// A weight from text, such as `5`. Errors never quote the input.
    public init(validating text: String) throws(KeyStoreError) {
        guard let value = Int(text.trimmingASCIIWhitespace()), Self.range.contains(value) else {
            if KeyShape.looksLikeKey(text) { throw KeyShape.misplacedKeyError(expected: "a weight") }
            throw .invalidInput(
                "a weight is a whole number from 1 to 1000",
                hint: "a key of weight 2 is drawn twice as often as one of 1")
        }
        rawValue = value
    }

    init(checked value: Int) { rawValue = value }

    /// The number.
    public var description: String { String(rawValue) }
}

extension KeyStore {
    /// Moves key `number` to `tier`. Returns the key (to show it masked) and whether it moved.
    public func setTier(
        _ tier: KeyTier, number: Int, of name: ProviderName
    ) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        try changeKey(number: number, of: name, step: "setting the tier of key #\(number) of \(name)") {
            provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k SET tier = \(tier.rawValue)::smallint
                WHERE k.provider_id = \(provider) AND k.key_number = \(number) AND k.tier <> \(tier.rawValue)
                RETURNING k.api_key
                """, step: "setting the tier of key #\(number) of \(name)")
        }
    }

    /// Gives key `number` the weight `weight`. Returns the key (to show it masked) and whether
    /// the weight changed. Triggers move the key to its new weight class (migration 030).
    public func setWeight(
        _ weight: KeyWeight, number: Int, of name: ProviderName
    ) throws(KeyStoreError) -> (key: APIKey, changed: Bool) {
        try changeKey(number: number, of: name, step: "setting the weight of key #\(number) of \(name)") {
            provider, transaction in
            try transaction.query(
                """
                UPDATE public.provider_api_keys AS k SET weight = \(weight.rawValue)
                WHERE k.provider_id = \(provider) AND k.key_number = \(number) AND k.weight <> \(weight.rawValue)
                RETURNING k.api_key
                """, step: "setting the weight of key #\(number) of \(name)")
        }
    }

    /// A key for `affinity` (a conversation or user id), through the public
    /// `get_sticky_api_key`: the same key for the same affinity while that key stays available
    /// and its tier serves; across affinities, in proportion to weight.
    public func stickyKey(of name: ProviderName, affinity: String) throws(KeyStoreError) -> APIKey {
        try drawKey(of: name, affinity: affinity).key
    }
}

/// A key a pick gave, and what rests it when it is not available (the degrade rule's pick):
/// "exhausted until 00:00 America/Los_Angeles (08:00Z)", "cooling down until 14:05:30Z".
public struct DrawnKey: Sendable {
    /// The key.
    public let key: APIKey
    /// `nil` for an available key.
    public let rest: String?
}
