/// A five-character SQLSTATE code, as PostgreSQL reports it (Appendix A of its manual).
///
/// Only the codes this product reacts to have names; any other code is still kept and shown.
public struct SQLState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The five characters, such as "23505".
    public let rawValue: String
    /// A code as the server sent it.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The five characters.
    public var description: String { rawValue }

    /// The two-character class, such as "23" for integrity constraint violations.
    public var errorClass: Substring { rawValue.prefix(2) }

    /// A number does not fit its type (the next key number after 2147483647).
    public static let numericValueOutOfRange = SQLState(rawValue: "22003")
    /// A unique constraint refused a row.
    public static let uniqueViolation = SQLState(rawValue: "23505")
    /// A table the statement names does not exist.
    public static let undefinedTable = SQLState(rawValue: "42P01")
    /// A column the statement names does not exist (a migration is missing).
    public static let undefinedColumn = SQLState(rawValue: "42703")
    /// A function the statement names does not exist with those argument types.
    public static let undefinedFunction = SQLState(rawValue: "42883")
    /// A schema the statement names does not exist.
    public static let invalidSchemaName = SQLState(rawValue: "3F000")
    /// The role may not do this.
    public static let insufficientPrivilege = SQLState(rawValue: "42501")
    /// `lock_timeout` passed while waiting for a lock.
    public static let lockNotAvailable = SQLState(rawValue: "55P03")
    /// The statement was cancelled (`statement_timeout`, or a cancel request).
    public static let queryCanceled = SQLState(rawValue: "57014")
    /// The server broke a deadlock by failing this transaction.
    public static let deadlockDetected = SQLState(rawValue: "40P01")
    /// A repeatable-read transaction met a concurrent change.
    public static let serializationFailure = SQLState(rawValue: "40001")
    /// A write in a read-only transaction (a hot standby, or a read-only session).
    public static let readOnlySQLTransaction = SQLState(rawValue: "25006")
}
