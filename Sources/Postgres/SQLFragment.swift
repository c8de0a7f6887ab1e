/// A piece of SQL with a name, written once and interpolated into many queries: an expression
/// that must match an index, a rule shared by several statements.
///
/// Its text can only come from `StaticString` literals (source code, never input), and values
/// in it become bound parameters of the query it is put into, as everywhere else:
///
///     static func keyHash(of operand: SQLFragment) -> SQLFragment {
///         "sha256(decode(replace(\(operand), ...), 'escape'))"
///     }
///     let query: Query = "SELECT 1 FROM t WHERE \(keyHash(of: .column("t.api_key"))) = \(keyHash(of: .value(key)))"
public struct SQLFragment: Sendable, ExpressibleByStringInterpolation {
    enum Piece: Sendable {
        case text(StaticString)
        case value(String?)
    }

    private(set) var pieces: [Piece]

    /// A fragment of static SQL text.
    public init(stringLiteral value: StaticString) {
        pieces = [.text(value)]
    }

    /// A fragment built of static text, other fragments and values.
    public init(stringInterpolation: StringInterpolation) {
        pieces = stringInterpolation.pieces
    }

    /// A column or other identifier, named in source code.
    public static func column(_ name: StaticString) -> SQLFragment { SQLFragment(stringLiteral: name) }

    /// A value, sent as a parameter.
    public static func value(_ value: some ParameterEncodable) -> SQLFragment {
        var fragment = SQLFragment(stringLiteral: "")
        fragment.pieces = [.value(value.postgresText)]
        return fragment
    }

    /// Builds a fragment: static text, other fragments, and values that become parameters.
    public struct StringInterpolation: StringInterpolationProtocol {
        var pieces: [Piece] = []

        /// Starts an empty fragment.
        public init(literalCapacity: Int, interpolationCount: Int) {}

        /// SQL text, written in the source: never input.
        public mutating func appendLiteral(_ literal: StaticString) { pieces.append(.text(literal)) }

        /// Another fragment, in place.
        public mutating func appendInterpolation(_ fragment: SQLFragment) { pieces += fragment.pieces }

        /// Static SQL text spliced in as it is; only a `StaticString`, so never input.
        public mutating func appendInterpolation(unescaped text: StaticString) { pieces.append(.text(text)) }

        /// A value, sent as a parameter of the query the fragment ends up in.
        public mutating func appendInterpolation(_ value: some ParameterEncodable) {
            pieces.append(.value(value.postgresText))
        }

        /// A value or SQL NULL, sent as a parameter of the query the fragment ends up in.
        public mutating func appendInterpolation(_ value: (some ParameterEncodable)?) {
            pieces.append(.value(value?.postgresText))
        }
    }
}

extension Query.StringInterpolation {
    /// A named fragment: its text joins the SQL, its values the parameters.
    public mutating func appendInterpolation(_ fragment: SQLFragment) {
        for piece in fragment.pieces {
            switch piece {
            case .text(let text): appendLiteral(text)
            case .value(let value): appendParameter(value)
            }
        }
    }
}
