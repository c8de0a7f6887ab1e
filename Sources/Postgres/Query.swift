/// A statement and its parameters, built so that SQL injection cannot be written by accident.
///
/// As in postgres-nio, every interpolated value becomes a bound parameter:
///
///     let query: Query = "SELECT id FROM providers WHERE provider_name = \(name)"
///     // sql: "SELECT id FROM providers WHERE provider_name = $1", parameters: [name]
///
/// Only the literal parts of the string are SQL. There is deliberately no way to splice a
/// runtime string into the SQL text.
public struct Query: Sendable, ExpressibleByStringInterpolation {
    /// The statement, with `$1`, `$2`... where the values go.
    public private(set) var sql: String
    /// Parameters in text format; `nil` is SQL NULL.
    public private(set) var parameters: [String?]

    /// A statement without values.
    public init(stringLiteral value: StaticString) {
        sql = value.description
        parameters = []
    }

    /// A statement whose interpolated values became parameters.
    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        parameters = stringInterpolation.parameters
    }

    /// Builds a query: literal text is SQL, every interpolated value a bound parameter.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var parameters: [String?] = []

        /// Starts an empty query.
        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            parameters.reserveCapacity(interpolationCount)
        }

        /// SQL text, written in the source: never input.
        public mutating func appendLiteral(_ literal: StaticString) {
            sql += literal.description
        }

        /// A value, sent as the next `$n` parameter.
        public mutating func appendInterpolation(_ value: some ParameterEncodable) {
            appendParameter(value.postgresText)
        }

        /// A value or SQL NULL, sent as the next `$n` parameter.
        public mutating func appendInterpolation(_ value: (some ParameterEncodable)?) {
            appendParameter(value?.postgresText)
        }

        mutating func appendParameter(_ text: String?) {
            parameters.append(text)
            sql += "$\(parameters.count)"
        }
    }
}

/// A value that can be sent as a text-format parameter.
public protocol ParameterEncodable: Sendable {
    var postgresText: String { get }
}

extension String: ParameterEncodable {
    /// The string as it is.
    public var postgresText: String { self }
}

extension Int: ParameterEncodable {
    /// The number in decimal.
    public var postgresText: String { String(self) }
}

extension Bool: ParameterEncodable {
    /// `true` or `false`.
    public var postgresText: String { self ? "true" : "false" }
}

extension Array: ParameterEncodable where Element: ParameterEncodable {
    /// An array literal (`{"a","b"}`), for `unnest($1::text[])`: many values in one parameter
    /// and one round trip. Every element is quoted, so commas, braces, quotes and backslashes
    /// inside a value stay data.
    public var postgresText: String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(count * 32)
        for (index, element) in enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            for byte in element.postgresText.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
