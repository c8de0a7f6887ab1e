/// A provider API key: 1-2048 visible ASCII characters, no whitespace or control characters.
///
/// A key is a secret, so its `description` is masked (`sk-pr…a1b2`): printing one by accident,
/// in a log line or an error, does not give it away. Only `revealed` is the whole key.
public struct APIKey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The whole key. Use it only where the key must go: a provider's request, a `--reveal`.
    public let revealed: String

    /// The longest key stored, in bytes (the schema's CHECK says the same).
    public static let maximumLength = 2048

    /// Trims surrounding whitespace, then refuses what cannot be a key, and, unless `force`,
    /// what is almost certainly a paste accident (see `KeyProblem`). Errors describe the
    /// problem, never the key.
    public init(validating input: String, force: Bool = false) throws(KeyStoreError) {
        let trimmed = input.trimmingASCIIWhitespace()
        if let problem = Self.problem(with: Array(trimmed.utf8), force: force) { throw problem.error }
        revealed = trimmed
    }

    /// A key from raw input bytes (standard input): cleaned as `keyBytes(ofLine:)` does, then
    /// checked as `init(validating:force:)` does.
    public init(validatingBytes input: some BidirectionalCollection<UInt8>, force: Bool = false) throws(KeyStoreError) {
        let bytes = Self.keyBytes(ofLine: input[...], atStartOfInput: true)
        if let problem = Self.problem(with: bytes, force: force) { throw problem.error }
        revealed = String(decoding: bytes, as: UTF8.self)
    }

    /// The key in one line of input: without surrounding whitespace (CR included) and, at the
    /// start of the input, without the byte order mark that Windows editors write.
    static func keyBytes<Line: BidirectionalCollection<UInt8>>(
        ofLine line: Line, atStartOfInput: Bool
    ) -> Line.SubSequence
    where Line.SubSequence == Line {
        var key = line.drop(while: \.isASCIIWhitespace)
        if atStartOfInput, key.starts(with: [0xEF, 0xBB, 0xBF]) {
            key = key.dropFirst(3).drop(while: \.isASCIIWhitespace)
        }
        while let last = key.last, last.isASCIIWhitespace { key = key.dropLast() }
        return key
    }

    /// A key already trimmed and checked by `problem(with:)`.
    init(checked: String) { revealed = checked }

    /// What is wrong with these (already trimmed) bytes as a key, or `nil` if nothing is.
    /// With `force`, only what the database refuses counts.
    static func problem(with bytes: some BidirectionalCollection<UInt8>, force: Bool) -> KeyProblem? {
        if bytes.isEmpty { return .invalid("is empty") }
        if bytes.count > maximumLength {
            return .invalid("is \(bytes.count) bytes long; the limit is \(maximumLength)")
        }
        for byte in bytes {
            switch byte {
            case 0x21...0x7E: continue
            case 0x20, 0x09: return .invalid("contains whitespace")
            case 0x80...:
                return .invalid(
                    String(validating: Array(bytes), as: UTF8.self) == nil
                        ? "is not valid UTF-8" : "contains a non-ASCII character")
            default: return .invalid("contains a control character")
            }
        }
        return force ? nil : oddShape(of: bytes)
    }

    /// Keys shorter than this are refused unless forced: no provider issues them.
    public static let minimumLength = 8

    /// Shapes a real provider key never has, and a careless paste often does.
    private static func oddShape(of bytes: some BidirectionalCollection<UInt8>) -> KeyProblem? {
        let quotes: Set<UInt8> = [0x22, 0x27, 0x60]  // " ' `
        if let first = bytes.first, quotes.contains(first) {
            return .odd("starts with a quote", hint: "give the key without quotes")
        }
        if let last = bytes.last, quotes.contains(last) {
            return .odd("ends with a quote", hint: "give the key without quotes")
        }
        if bytes.last == UInt8(ascii: ",") { return .odd("ends with a comma", hint: "give the key without the comma") }
        if bytes.contains(UInt8(ascii: ",")) { return .odd("contains a comma", hint: "give one key per line") }
        if bytes.count < minimumLength { return .odd("is shorter than \(minimumLength) characters", hint: nil) }
        if looksLikeAssignment(bytes) {
            return .odd("looks like a NAME=value line from a .env file", hint: "give only the part after the =")
        }
        return nil
    }

    /// `OPENAI_API_KEY=sk-...`: an identifier, `=`, and something that is not only `=`
    /// (base64 keys end in `=` padding, which is no assignment).
    private static func looksLikeAssignment(_ bytes: some Collection<UInt8>) -> Bool {
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")), equals != bytes.startIndex else { return false }
        let name = bytes[..<equals]
        let rest = bytes[bytes.index(after: equals)...]
        guard let first = name.first, first == UInt8(ascii: "_") || first.isASCIILetter else { return false }
        guard name.allSatisfy({ $0 == UInt8(ascii: "_") || $0.isASCIILetter || (0x30...0x39).contains($0) }) else {
            return false
        }
        return rest.contains { $0 != UInt8(ascii: "=") }
    }

    /// The key masked for showing, such as `sk-pr…a1b2`.
    public var masked: String { Self.mask(revealed) }
    /// The masked key, so that interpolating a key by accident does not give it away.
    public var description: String { masked }
    /// The masked key, for debuggers and `dump`.
    public var debugDescription: String { "APIKey(\(masked))" }

    /// Enough of the key to tell keys apart in a list, not enough to use it: the first five and
    /// last four characters of a normal key, less of a short one.
    public static func mask(_ key: String) -> String {
        // Stored keys are ASCII (the migration's CHECK), so bytes are characters; listing
        // 100,000 keys masks 100,000 times, and walking grapheme clusters would dominate.
        let view = Substring(key).utf8
        let (head, tail) =
            switch view.count {
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

/// Why some text is not taken as a key.
enum KeyProblem: Equatable {
    /// The database would refuse it; no option stores it.
    case invalid(String)
    /// A shape no provider's key has; `--force` stores it anyway.
    case odd(String, hint: String?)

    var description: String {
        switch self {
        case .invalid(let text), .odd(let text, _): text
        }
    }

    var error: KeyStoreError {
        switch self {
        case .invalid(let problem):
            .invalidInput("the key \(problem)", hint: "a key is one line of visible ASCII characters, such as sk-...")
        case .odd(let problem, let hint):
            .unusualKey("the key \(problem)", advice: hint)
        }
    }
}

extension UInt8 {
    var isASCIILetter: Bool { (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
}
