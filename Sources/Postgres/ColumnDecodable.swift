/// A value that can be read from a text-format column.
public protocol ColumnDecodable {
    /// `nil` when the text is not a value of this type.
    init?(postgresText: String)
    /// How the type is named in errors ("an integer").
    static var postgresTypeDescription: String { get }
}

extension String: ColumnDecodable {
    public init?(postgresText: String) { self = postgresText }
    public static var postgresTypeDescription: String { "text" }
}

extension Int: ColumnDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
    public static var postgresTypeDescription: String { "an integer" }
}

extension Bool: ColumnDecodable {
    public init?(postgresText: String) {
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
    public static var postgresTypeDescription: String { "a boolean" }
}
