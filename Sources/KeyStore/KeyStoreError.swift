import Postgres

/// Everything the key store can refuse or fail at, each case naming what the operator tried.
/// The command line shows `message` and `hint` as one line and maps `category` to an exit code.
///
/// Not frozen: a new feature may add a case, so a library user switches over it with a
/// `default:` (or over `category`, which is stable), as with any non-frozen enum of a library.
public enum KeyStoreError: Error, Sendable, Equatable {
    /// Input that can never work (a bad name, key, number or file); nothing was changed.
    case invalidInput(String, hint: String?)
    /// Bulk input with bad lines: the first ten with what is wrong with each (never the keys),
    /// and how many there are. `unusualShape`: every problem listed is a shape that storing
    /// anyway would accept.
    case invalidBulkInput(problems: [BulkLineProblem], lineCount: Int, unusualShape: Bool)
    case providerNotFound(ProviderName)
    case keyNotFound(ProviderName, number: Int)
    case providerExists(ProviderName)
    case keyAlreadyStored(ProviderName, asNumber: Int?)
    /// `--add-key --number N` where N holds a key.
    case keyNumberTaken(ProviderName, number: Int)
    /// The key changed between the confirmation and the delete.
    case keyChanged(ProviderName, number: Int)
    /// The provider exists and has no key at all.
    case noKeys(ProviderName)
    /// The provider has keys, but none that may be drawn: each is disabled or expired.
    case noUsableKey(ProviderName, disabled: Int, expired: Int)
    /// Key `number` exists but may not be used: disabled or expired.
    case keyUnusable(ProviderName, number: Int, UnusableKey)
    /// Key `number` exists but the command leaves keys in its state alone (`--check` does not
    /// ask about a key an operator disabled): `why` ends "key #N of P ...", `hint` says what to do.
    case keyLeftOut(ProviderName, number: Int, why: String, hint: String?)
    case numbersExhausted(ProviderName)
    /// The tables or functions are missing: the migration has not been applied.
    case schemaMissing
    case migrationDrift(fileName: String)
    case unknownMigrationsApplied([String])
    /// Another operator holds a lock this command needs (lock_timeout), or a deadlock was broken.
    case busy(String)
    case timedOut(String)
    case notConfigured(String, hint: String)
    case connection(String, hint: String?)
    /// The connection broke during COMMIT: the change may or may not have been saved.
    case outcomeUnknown(String)
    case database(String, hint: String?)
    /// The HTTP client (libcurl, for `--check`) failed on this machine: not the database's
    /// fault, nor a provider's answer.
    case transport(String)
    /// A key of a shape no provider uses (quoted, with a comma, too short...): almost always a
    /// paste accident. The caller may store it anyway when the operator insists.
    case unusualKey(String, advice: String?)
    /// No database is configured, and libpq's default (the local socket) did not answer.
    case noDatabaseConfigured
    /// A file or standard input could not be read; `file` is nil for standard input.
    case unreadableInput(String, file: String?)

    /// The kind of failure, for an exit code or a retry decision.
    public enum Category: Sendable {
        case failure, usage, notFound, busy
    }

    /// `usage`: the input can never work; `notFound`: no such provider or key; `busy`: try again;
    /// `failure`: anything else.
    public var category: Category {
        switch self {
        case .invalidInput, .invalidBulkInput, .unusualKey, .unreadableInput: .usage
        case .providerNotFound, .keyNotFound, .noKeys, .noUsableKey, .keyUnusable, .keyLeftOut: .notFound
        case .busy, .timedOut: .busy
        default: .failure
        }
    }

    /// What failed, in one line that never quotes a key or a password.
    public var message: String {
        switch self {
        case .invalidInput(let message, _): message
        case .invalidBulkInput(let problems, let count, _):
            (count == 1 ? "invalid " : "\(count) invalid lines: ")
                + problems.map { "line \($0.lineNumber): the key \($0.problem)" }.joined(separator: "; ")
                + (count > problems.count ? "; and \(count - problems.count) more" : "") + "; nothing was stored"
        case .providerNotFound(let name): "no provider \(name.quotedForMessages)"
        case .keyNotFound(let name, let number): "no key #\(number) for provider \"\(name)\""
        case .providerExists(let name): "provider \"\(name)\" already exists"
        case .keyAlreadyStored(let name, let number):
            "that key is already stored for \(name)\(number.map { " as #\($0)" } ?? "")"
        case .keyNumberTaken(let name, let number): "key #\(number) of \(name) is taken"
        case .keyChanged(let name, let number):
            "key #\(number) of \(name) changed since it was shown; nothing was deleted"
        case .noKeys(let name): "provider \"\(name)\" has no keys"
        case .noUsableKey(let name, let disabled, let expired):
            "provider \"\(name)\" has no available key: "
                + [(disabled, "disabled"), (expired, "expired")].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
                .joined(separator: ", ")
        case .keyUnusable(let name, let number, let key): "key #\(number) of \(name) \(key.description)"
        case .keyLeftOut(let name, let number, let why, _): "key #\(number) of \(name) \(why)"
        case .numbersExhausted(let name): "provider \"\(name)\" has used every key number up to 2147483647"
        case .schemaMissing: "the KeyAdmin tables are not in this database"
        case .migrationDrift(let fileName):
            "migration \(fileName) has changed since it was applied to this database"
        case .unknownMigrationsApplied(let versions):
            "this database has migration\(versions.count == 1 ? "" : "s") \(versions.joined(separator: ", ")) that this keyadmin does not know"
        case .unusualKey(let message, _), .unreadableInput(let message, _): message
        case .noDatabaseConfigured:
            "no database is configured, and libpq's default (the local socket) did not answer"
        case .busy(let message), .timedOut(let message), .notConfigured(let message, _),
            .connection(let message, _), .outcomeUnknown(let message), .database(let message, _),
            .transport(let message):
            message
        }
    }

    /// Advice that belongs to the error itself (how to write a key, which connection setting
    /// to change), for any program that shows it. What to run next is the showing tool's to say.
    public var advice: String? {
        switch self {
        case .invalidInput(_, let hint), .connection(_, let hint), .database(_, let hint): hint
        case .unusualKey(_, let advice): advice
        case .notConfigured(_, let hint): hint
        case .keyLeftOut(_, _, _, let hint): hint
        case .numbersExhausted: "numbers are never reused; add the keys to a new provider"
        case .migrationDrift:
            "a migration must not change once applied; restore the file as it was and put the change in a new migration"
        case .busy, .timedOut: "another operator or a long statement holds the rows; try again"
        default: nil
        }
    }
}

extension KeyStoreError {
    /// The operator-facing meaning of an error from the Postgres layer. Constraint violations
    /// are recognised by SQLSTATE and constraint name, never by reading the DETAIL.
    public static func from(_ error: PGError, provider: ProviderName? = nil) -> KeyStoreError {
        switch error.kind {
        case .invalidConnectionString:
            return .connection("cannot use the connection string: \(error.message)", hint: error.hint)
        case .connectionFailed:
            let hint = connectionHint(for: error.message)
            // libpq ends a refused connection with its own question ("Is the server running on
            // that host and accepting TCP/IP connections?"); the hint asks it once.
            var message = error.message
            if hint != nil, let question = message.firstRange(of: "; Is the server running") {
                message = String(message[..<question.lowerBound])
            }
            return .connection("\(error.step): \(message)", hint: hint)
        case .connectionLost:
            return .connection(
                "\(error.step): the connection was lost (\(error.message)); nothing was changed", hint: "try again")
        case .commitOutcomeUnknown:
            return .outcomeUnknown("the connection was lost while committing: \(error.message)")
        case .timedOut:
            return .timedOut("\(error.step): \(error.message)")
        case .unexpectedResult:
            return .database("\(error.step): \(error.message)", hint: nil)
        case .server:
            break
        }
        switch error.sqlState {
        case .undefinedTable?, .undefinedFunction?, .invalidSchemaName?, .undefinedColumn?:
            return .schemaMissing
        case .lockNotAvailable?, .deadlockDetected?, .serializationFailure?:
            return .busy("\(error.step): another session holds what this command needs")
        case .queryCanceled?:
            return .timedOut("\(error.step): the statement ran past its time limit and was cancelled")
        case .uniqueViolation? where error.constraintName == ConstraintName.keyHash:
            if let provider { return .keyAlreadyStored(provider, asNumber: nil) }
        case .uniqueViolation? where error.constraintName == ConstraintName.providerName:
            if let provider { return .providerExists(provider) }
        case .numericValueOutOfRange?:
            // key_number is an integer: the next number after 2147483647 does not exist.
            if let provider { return .numbersExhausted(provider) }
        case .insufficientPrivilege?:
            return .database(
                "\(error.step): \(error.message)",
                hint: "connect as the table owner or a role with the service role's rights")
        case .readOnlySQLTransaction?:
            return .database("\(error.step): \(error.message)", hint: "connect to the primary, not a read replica")
        default:
            break
        }
        return .database("\(error.step): \(error.message)", hint: error.hint)
    }

    private static func connectionHint(for message: String) -> String? {
        if message.contains("password authentication failed") {
            return "check the user and password in the connection string"
        }
        if message.contains("does not exist") { return "check the database and user names in the connection string" }
        if message.contains("does not support SSL") {
            return
                "keyadmin requires TLS for servers on other machines; if this one is on a network you trust, add sslmode=prefer or sslmode=disable"
        }
        if message.contains("timeout expired") { return "check the host and port, and that the server is reachable" }
        if message.contains("Connection refused") || message.contains("No such file or directory") {
            return "is the server running, and on that host and port?"
        }
        return nil
    }
}

/// Why a key that exists may not be used, as `--get-key` explains it.
public struct UnusableKey: Sendable, Equatable, CustomStringConvertible {
    /// `.disabled` or `.expired`.
    public let state: KeyState
    /// When it was disabled, or when it expired.
    public let since: UTCTime
    /// The operator's reason, or the report that disabled it.
    public let reason: String?
    /// Who disabled it.
    public let disabledBy: String?
    /// Disabled by a backend's report (401, 402, 403) rather than by hand.
    public let disabledAutomatically: Bool

    /// Describes the key's state at the time it became unusable.
    public init(
        state: KeyState, since: UTCTime, reason: String? = nil, disabledBy: String? = nil,
        disabledAutomatically: Bool = false
    ) {
        self.state = state
        self.since = since
        self.reason = reason
        self.disabledBy = disabledBy
        self.disabledAutomatically = disabledAutomatically
    }

    /// "is disabled (revoked, by alice, 2026-12-01T10:05:00Z)", "expired at 2026-12-01T00:00:00Z".
    public var description: String {
        guard state == .disabled else { return "expired at \(since)" }
        let details = [reason, disabledBy.map { "by \($0)" }, since.description].compactMap { $0 }
        return (disabledAutomatically ? "was disabled automatically" : "is disabled")
            + " (\(details.joined(separator: ", ")))"
    }
}

/// One invalid line of bulk input: its number and what is wrong with its key (never the key).
public struct BulkLineProblem: Sendable, Equatable {
    /// The line's number in the input, from 1.
    public let lineNumber: Int
    /// "contains whitespace", "is shorter than 8 characters"...
    public let problem: String
}
