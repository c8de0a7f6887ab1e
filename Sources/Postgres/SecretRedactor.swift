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

    /// This redactor, hiding `more` secrets too.
    public func adding(_ more: [String]) -> SecretRedactor { SecretRedactor(secrets: secrets + more) }

    /// A redactor for every password written in `connectionString`, in URI or key=value form,
    /// percent-encoded or not, plus `PGPASSWORD` when it is set.
    public init(connectionString: String, environmentPassword: String? = nil) {
        var found = Self.passwords(in: connectionString)
        found += found.compactMap(Self.percentDecoded)
        if let environmentPassword { found.append(environmentPassword) }
        self.init(secrets: found)
    }

    /// `text` with passwords hidden: the password field of any connection string in it (a URI's
    /// `user:password@`, a `password=` value) masked wherever it is, and each known secret
    /// replaced where it stands as a whole token, never inside another word (a password `p` must
    /// not turn `port` into `********ort`). A token that is one of `identifiers` (the user and
    /// database the operator connected as) stays readable even when the password is the same
    /// text: hiding it would hide what the operator needs and tell that the password equals it.
    public func redact(_ text: String, keeping identifiers: Set<String> = []) -> String {
        var result = Self.maskingPasswordFields(in: text)
        for secret in secrets where !identifiers.contains(secret) {
            result = result.replacingWholeTokens(secret, with: "********")
        }
        return result
    }

    /// `text` with the value of every `user:password@` (after a `://`) and `password=` masked.
    static func maskingPasswordFields(in text: String) -> String {
        var result = ""
        var rest = Substring(text)
        // URI user info: scheme://user:password@host
        while let scheme = rest.firstRange(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == " " }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@"),
                let colon = rest[..<at].firstIndex(of: ":")
            {
                result += rest[...colon]
                result += "********"
                rest = rest[at...]
            }
        }
        result += rest
        // key=value and query-string passwords: the value after `password =`, quoted or not.
        var masked = ""
        var remaining = Substring(result)
        while let keyword = remaining.indices.first(where: { remaining[$0...].prefix(8).lowercased() == "password" }) {
            var index = remaining.index(keyword, offsetBy: 8)
            masked += remaining[..<index]
            remaining = remaining[index...]
            while index < remaining.endIndex, remaining[index] == " " { index = remaining.index(after: index) }
            guard index < remaining.endIndex, remaining[index] == "=" else { continue }
            index = remaining.index(after: index)
            while index < remaining.endIndex, remaining[index] == " " { index = remaining.index(after: index) }
            masked += remaining[..<index]
            var end = index
            if end < remaining.endIndex, remaining[end] == "'" {
                end = remaining.index(after: end)
                while end < remaining.endIndex, remaining[end] != "'" {
                    if remaining[end] == "\\", remaining.index(after: end) < remaining.endIndex {
                        end = remaining.index(after: end)
                    }
                    end = remaining.index(after: end)
                }
                if end < remaining.endIndex { end = remaining.index(after: end) }
            } else {
                end =
                    remaining[index...].firstIndex(where: { $0 == " " || $0 == "&" || $0 == "\"" })
                    ?? remaining.endIndex
            }
            if end > index { masked += "********" }
            remaining = remaining[end...]
        }
        masked += remaining
        return masked
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
    /// Each occurrence of `target` that stands alone, with no letter or digit right before or
    /// after it, replaced.
    func replacingWholeTokens(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        func isWordCharacter(_ character: Character) -> Bool { character.isLetter || character.isNumber }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            let before = range.lowerBound > startIndex ? self[index(before: range.lowerBound)] : nil
            let after = range.upperBound < endIndex ? self[range.upperBound] : nil
            let standsAlone =
                !(before.map(isWordCharacter) ?? false) && !(after.map(isWordCharacter) ?? false)
            result += rest[..<range.lowerBound]
            result += standsAlone ? replacement : String(rest[range])
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }

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
