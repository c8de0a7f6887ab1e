/// A provider API key: 1-2048 visible ASCII characters, no whitespace or control characters.
///
/// A key is a secret, so its `description` is masked (`sk-pr…a1b2`): printing one by accident,
/// in a log line or an error, does not give it away. Only `revealed` is the whole key.
public struct APIKey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let revealed: String

    public static let maximumLength = 2048

    /// Trims surrounding whitespace, then refuses what cannot be a key. Errors describe the
    /// problem, never the key.
    public init(validating input: String) throws(KeyStoreError) {
        let trimmed = input.trimmingASCIIWhitespace()
        if let problem = Self.problem(with: Array(trimmed.utf8)) {
            throw .invalidInput("the key \(problem)", hint: "a key is one line of visible ASCII characters, such as sk-...")
        }
        revealed = trimmed
    }

    /// A key from raw input bytes (standard input): cleaned as `keyBytes(ofLine:)` does, then
    /// checked. Errors describe the problem, never the key.
    public init(validatingBytes input: some BidirectionalCollection<UInt8>) throws(KeyStoreError) {
        let bytes = Self.keyBytes(ofLine: input[...], atStartOfInput: true)
        if let problem = Self.problem(with: bytes) {
            throw .invalidInput("the key \(problem)", hint: "a key is one line of visible ASCII characters, such as sk-...")
        }
        revealed = String(decoding: bytes, as: UTF8.self)
    }

    /// The key in one line of input: without surrounding whitespace (CR included) and, at the
    /// start of the input, without the byte order mark that Windows editors write.
    static func keyBytes<Line: BidirectionalCollection<UInt8>>(ofLine line: Line, atStartOfInput: Bool) -> Line.SubSequence
    where Line.SubSequence == Line {
        var key = line.drop(while: \.isASCIIWhitespace)
        if atStartOfInput, key.starts(with: [0xEF, 0xBB, 0xBF]) { key = key.dropFirst(3).drop(while: \.isASCIIWhitespace) }
        while let last = key.last, last.isASCIIWhitespace { key = key.dropLast() }
        return key
    }

    /// A key already trimmed and checked by `problem(with:)`.
    init(checked: String) { revealed = checked }

    /// What is wrong with these (already trimmed) bytes as a key, or `nil` if nothing is.
    static func problem(with bytes: some Collection<UInt8>) -> String? {
        if bytes.isEmpty { return "is empty" }
        if bytes.count > maximumLength { return "is \(bytes.count) bytes long; the limit is \(maximumLength)" }
        for byte in bytes {
            switch byte {
            case 0x21...0x7E: continue
            case 0x20, 0x09: return "contains whitespace"
            case 0x80...:
                return String(validating: Array(bytes), as: UTF8.self) == nil
                    ? "is not valid UTF-8" : "contains a non-ASCII character"
            default: return "contains a control character"
            }
        }
        return nil
    }

    public var masked: String { Self.mask(revealed) }
    public var description: String { masked }
    public var debugDescription: String { "APIKey(\(masked))" }

    /// Enough of the key to tell keys apart in a list, not enough to use it: the first five and
    /// last four characters of a normal key, less of a short one.
    public static func mask(_ key: String) -> String {
        // Stored keys are ASCII (the migration's CHECK), so bytes are characters; listing
        // 100,000 keys masks 100,000 times, and walking grapheme clusters would dominate.
        let view = Substring(key).utf8
        let (head, tail) = switch view.count {
        case 16...: (5, 4)
        case 9..<16: (3, 2)
        case 1..<9: (1, 0)
        default: (0, 0)
        }
        let shown = (view.prefix(head), view.suffix(tail))
        // Only the bytes shown are checked: a key with other characters is masked by character.
        guard !shown.0.contains(where: { $0 >= 0x80 }), !shown.1.contains(where: { $0 >= 0x80 }) else {
            return maskByCharacter(key)
        }
        return String(decoding: shown.0, as: UTF8.self) + "…" + String(decoding: shown.1, as: UTF8.self)
    }

    private static func maskByCharacter(_ key: String) -> String {
        let characters = Array(key)
        switch characters.count {
        case 16...: return String(characters.prefix(5)) + "…" + String(characters.suffix(4))
        case 9..<16: return String(characters.prefix(3)) + "…" + String(characters.suffix(2))
        default: return String(characters.prefix(1)) + "…"
        }
    }
}
