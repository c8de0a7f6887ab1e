/// Removes passwords from text before it is shown.
///
/// libpq echoes parts of a connection string it cannot parse (for a malformed URI, the whole
/// URI), so a password would reach the terminal or a CI log. The redactor knows the password by
/// reading the connection string itself, even when libpq could not parse it.
public struct SecretRedactor: Sendable {
    private let secrets: [String]

    /// A redactor for these secrets (empty ones are ignored).
    public init(secrets: [String]) {
        // Longest first, so a password that contains another secret is removed whole.
        self.secrets = Array(Set(secrets.filter { !$0.isEmpty })).sorted { $0.count > $1.count }
    }

    /// A redactor for every password written in `connectionString`, in URI or key=value form,
    /// percent-encoded or not, plus `PGPASSWORD` when it is set.
    public init(connectionString: String, environmentPassword: String? = nil) {
        var found = Self.passwords(in: connectionString)
        found += found.compactMap(Self.percentDecoded)
        if let environmentPassword { found.append(environmentPassword) }
        self.init(secrets: found)
    }

    /// `text` with every secret, and every password in a connection string, replaced by `***`.
    public func redact(_ text: String) -> String {
        var result = text
        for secret in secrets {
            result = result.replacingEvery(secret, with: "********")
        }
        return result
    }

    /// Passwords in a URI's user info (`postgresql://user:secret@host`) and in any
    /// `password=` field (key=value form, or a URI's query string).
    static func passwords(in connectionString: String) -> [String] {
        var found: [String] = []
        let text = Substring(connectionString)
        if let schemeEnd = text.firstRange(of: "://") {
            let rest = text[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                if let colon = userInfo.firstIndex(of: ":") {
                    found.append(String(userInfo[userInfo.index(after: colon)...]))
                }
            }
        }
        var searchStart = text.startIndex
        let lowered = Substring(connectionString.lowercased())
        while let keyword = lowered[searchStart...].firstRange(of: "password") {
            var index = keyword.upperBound
            searchStart = index
            while index < text.endIndex, text[index] == " " { index = text.index(after: index) }
            guard index < text.endIndex, text[index] == "=" else { continue }
            index = text.index(after: index)
            while index < text.endIndex, text[index] == " " { index = text.index(after: index) }
            guard index < text.endIndex else { break }
            if text[index] == "'" {
                // key=value quoting: single quotes, backslash escapes.
                var value = ""
                var cursor = text.index(after: index)
                while cursor < text.endIndex, text[cursor] != "'" {
                    if text[cursor] == "\\", text.index(after: cursor) < text.endIndex {
                        cursor = text.index(after: cursor)
                    }
                    value.append(text[cursor])
                    cursor = text.index(after: cursor)
                }
                found.append(value)
                // The raw, still-escaped form may be what an error quotes.
                found.append(String(text[text.index(after: index)..<cursor]))
            } else {
                let end = text[index...].firstIndex(where: { $0 == " " || $0 == "&" }) ?? text.endIndex
                found.append(String(text[index..<end]))
            }
        }
        return found
    }

    static func percentDecoded(_ text: String) -> String? {
        guard text.contains("%") else { return nil }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func replacingEvery(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
