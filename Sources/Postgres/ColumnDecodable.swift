/// A value that can be read from a text-format column.
public protocol ColumnDecodable {
    /// `nil` when the text is not a value of this type.
    init?(postgresText: String)
    /// How the type is named in errors ("an integer").
    static var postgresTypeDescription: String { get }
}

extension String: ColumnDecodable {
    /// The text as it is.
    public init?(postgresText: String) { self = postgresText }
    /// "text".
    public static var postgresTypeDescription: String { "text" }
}

extension Int: ColumnDecodable {
    /// A decimal integer; `nil` for anything else.
    public init?(postgresText: String) { self.init(postgresText) }
    /// "an integer".
    public static var postgresTypeDescription: String { "an integer" }
}

extension Bool: ColumnDecodable {
    /// `t` or `f`, as PostgreSQL writes booleans in text.
    public init?(postgresText: String) {
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
    /// "a boolean".
    public static var postgresTypeDescription: String { "a boolean" }
}
