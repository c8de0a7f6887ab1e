/// A `.env` file, read the way dotenv tools read it: `KEY=value` lines, `export KEY=value`,
/// `#` comments (whole-line, or after an unquoted value), single quotes taken literally, double
/// quotes with `\n`, `\"` and `\\` escapes.
public struct DotEnv: Sendable {
    /// Each variable's value, the last assignment winning.
    public let values: [String: String]

    /// Parses dotenv syntax: `NAME=value`, `export NAME=value`, quotes, `#` comments.
    public init(parsing text: String) {
        var values: [String: String] = [:]
        for rawLine in text.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        {
            var line = Substring(rawLine.trimmingASCIIWhitespace())
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export "), line.contains("=") {
                line = Substring(line.dropFirst("export ".count).trimmingASCIIWhitespace())
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingASCIIWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) else {
                continue
            }
            values[key] = Self.value(from: line[line.index(after: equals)...])
        }
        self.values = values
    }

    private static func value(from raw: Substring) -> String {
        let text = Substring(raw.trimmingASCIIWhitespace())
        guard let quote = text.first, quote == "\"" || quote == "'" else {
            // An unquoted value ends at " #" (a comment).
            if let comment = text.firstRange(of: " #") { return text[..<comment.lowerBound].trimmingASCIIWhitespace() }
            return String(text)
        }
        var result = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex, text[index] != quote {
            var character = text[index]
            if quote == "\"", character == "\\", text.index(after: index) < text.endIndex {
                index = text.index(after: index)
                switch text[index] {
                case "n": character = "\n"
                case "t": character = "\t"
                case "r": character = "\r"
                default: character = text[index]
                }
            }
            result.append(character)
            index = text.index(after: index)
        }
        return result
    }

    /// The file at `path`, or `nil` if there is none. Also says whether other users of the
    /// machine may read it, since it usually holds a database password.
    public static func load(path: String) -> (dotEnv: DotEnv, readableByOthers: Bool)? {
        guard let file = readFile(path, limit: 1 << 20) else { return nil }
        return (DotEnv(parsing: String(decoding: file.bytes, as: UTF8.self)), file.readableByOthers)
    }
}
