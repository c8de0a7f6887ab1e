/// A provider's name as stored: 1-64 characters of `a-z 0-9 . _ -`, lower-case, starting with a
/// letter or digit (the constraints of migrations 021 and 022 say the same).
///
/// Names are case-insensitive for the operator (`OpenAI` and `openai` are one provider), so
/// ASCII letters are folded to lower case here, exactly as the SQL functions fold their argument.
/// Errors never quote the input: it failed to be a name, and may be a key typed in its place.
public struct ProviderName: Hashable, Sendable, CustomStringConvertible {
    /// The name, lower-cased.
    public let rawValue: String

    /// The longest name, in characters (the schema's CHECK says the same).
    public static let maximumLength = 64

    /// Trims and lower-cases `input`, then checks it: 1-64 characters of `a-z 0-9 . _ -`, starting
    /// with a letter or a digit. Errors never quote input that fails (it may be a key).
    public init(validating input: String) throws(KeyStoreError) {
        let trimmed = input.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty else {
            throw .invalidInput("the provider name is empty", hint: "use a name such as openai or anthropic")
        }
        if KeyShape.looksLikeKey(trimmed) { throw KeyShape.misplacedKeyError(expected: "a provider name") }
        var folded = ""
        folded.unicodeScalars.reserveCapacity(trimmed.unicodeScalars.count)
        for scalar in trimmed.unicodeScalars {
            switch scalar {
            case "A"..."Z": folded.unicodeScalars.append(Unicode.Scalar(UInt8(scalar.value) + 32))
            case "a"..."z", "0"..."9", ".", "_", "-": folded.unicodeScalars.append(scalar)
            default:
                throw .invalidInput(
                    "the provider name contains \(Self.describe(scalar))",
                    hint: "provider names use only letters a-z, digits and . _ -")
            }
        }
        guard let first = folded.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first) else {
            throw .invalidInput(
                "the provider name starts with \(Self.describe(folded.unicodeScalars.first ?? " "))",
                hint: "a provider name starts with a letter or a digit, such as openai")
        }
        guard folded.unicodeScalars.count <= Self.maximumLength else {
            throw .invalidInput(
                "the provider name is \(folded.unicodeScalars.count) characters long; the limit is \(Self.maximumLength)",
                hint: nil)
        }
        rawValue = folded
    }

    /// A name for a new provider: as `init(validating:)`, and, unless `force`, not shaped like a
    /// credential (see `looksLikeCredential`): a key or an id pasted where the name belongs
    /// would be shown in every listing, history and error.
    public init(validatingNew input: String, force: Bool) throws(KeyStoreError) {
        try self.init(validating: input)
        if !force, looksLikeCredential {
            throw .invalidInput(
                "that name has the shape of a key or an id (a UUID), not of a provider's name",
                hint: "use a name such as openai; add --force if this is the name you mean")
        }
    }

    /// The name itself.
    public var description: String { rawValue }

    /// Shaped like a credential: a UUID (8-4-4-4-12 hex digits), or a known key prefix followed
    /// by more. Errors about a provider that does not exist do not quote such a name.
    public var looksLikeCredential: Bool {
        if KeyShape.knownPrefixes.contains(where: { rawValue.hasPrefix($0.lowercased()) && rawValue.count > $0.count })
        {
            return true
        }
        let groups = rawValue.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12]
            && groups.allSatisfy {
                $0.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
            }
    }

    /// The name in quotes for a message, or "that name" when it is shaped like a credential.
    public var quotedForMessages: String { looksLikeCredential ? "by that name" : "named \"\(rawValue)\"" }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        switch scalar.value {
        case 0x20: "a space"
        case 0..<0x20, 0x7F: "a control character"
        case 0x80...: "a non-ASCII character"
        default: "the character '\(scalar)'"
        }
    }
}

extension StringProtocol {
    /// Drops spaces, tabs, CR, LF, VT and FF at both ends (the whitespace a paste brings along).
    public func trimmingASCIIWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isASCIIWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.isASCIIWhitespace })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

extension Unicode.Scalar {
    var isASCIIWhitespace: Bool { value < 0x80 && UInt8(value).isASCIIWhitespace }
}

extension UInt8 {
    /// Space, tab, LF, VT, FF, CR: the whitespace a paste brings along.
    var isASCIIWhitespace: Bool { self == 0x20 || (0x09...0x0D).contains(self) }
}
