/// Everything that can go wrong below the key store, as a value.
///
/// Like postgres-nio's `PSQLError`, the server's fields are kept apart from the client's own
/// description of the step that failed. The server's DETAIL field is deliberately never read:
/// for constraint violations it quotes row values, and a row value here may be an API key.
public struct PGError: Error, Sendable, CustomStringConvertible {
    /// Where the failure happened: the server's answer, or the connection around it.
    public enum Kind: Sendable, Equatable {
        /// The connection string could not be parsed.
        case invalidConnectionString
        /// No session could be established (no server, wrong password, missing database...).
        case connectionFailed
        /// The server answered a statement with an error; `sqlState` says which.
        case server
        /// The connection broke while a statement was under way.
        case connectionLost
        /// No answer came within the time limit; the statement was cancelled.
        case timedOut
        /// The connection broke while COMMIT was under way: the change may or may not be saved.
        case commitOutcomeUnknown
        /// The server's answer did not have the shape the caller asked for.
        case unexpectedResult
    }

    /// Where it failed.
    public let kind: Kind
    /// What the client was doing, such as "connecting to localhost:5432" or "reading column key_number".
    public let step: String
    /// One line: the server's primary message or libpq's own, with any password removed.
    public let message: String
    /// The server's SQLSTATE, for `.server` errors and some lost connections.
    public let sqlState: SQLState?
    /// The server's HINT, passwords removed.
    public let hint: String?
    /// The constraint a violation names (never the DETAIL, which quotes row values).
    public let constraintName: String?

    /// An error at `step` ("adding a key to openai"), saying `message`.
    public init(
        _ kind: Kind, step: String, message: String,
        sqlState: SQLState? = nil, hint: String? = nil, constraintName: String? = nil
    ) {
        self.kind = kind
        self.step = step
        self.message = message
        self.sqlState = sqlState
        self.hint = hint
        self.constraintName = constraintName
    }

    /// "step: message", one line.
    public var description: String {
        var text = "\(step): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        return text
    }
}

extension String {
    /// libpq's messages end in newlines and may span several lines (one per address tried);
    /// errors here are shown on one line.
    func joinedOnOneLine() -> String {
        split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
