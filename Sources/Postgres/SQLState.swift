/// A five-character SQLSTATE code, as PostgreSQL reports it (Appendix A of its manual).
///
/// Only the codes this product reacts to have names; any other code is still kept and shown.
public struct SQLState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The two-character class, such as "23" for integrity constraint violations.
    public var errorClass: Substring { rawValue.prefix(2) }

    public static let numericValueOutOfRange = SQLState(rawValue: "22003")
    public static let uniqueViolation = SQLState(rawValue: "23505")
    public static let undefinedTable = SQLState(rawValue: "42P01")
    public static let undefinedFunction = SQLState(rawValue: "42883")
    public static let invalidSchemaName = SQLState(rawValue: "3F000")
    public static let insufficientPrivilege = SQLState(rawValue: "42501")
    public static let lockNotAvailable = SQLState(rawValue: "55P03")
    public static let queryCanceled = SQLState(rawValue: "57014")
    public static let deadlockDetected = SQLState(rawValue: "40P01")
    public static let serializationFailure = SQLState(rawValue: "40001")
    public static let readOnlySQLTransaction = SQLState(rawValue: "25006")
}
