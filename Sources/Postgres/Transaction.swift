/// How a transaction runs.
public struct TransactionOptions: Sendable {
    /// PostgreSQL's isolation levels the layer uses.
    public enum Isolation: Sendable {
        case readCommitted
        /// One snapshot for the whole transaction: a listing whose summary and rows agree.
        case repeatableRead
    }

    /// The isolation level; READ COMMITTED by default.
    public var isolation: Isolation
    /// A read-only transaction: what a hot standby allows, and what a read promises.
    public var readOnly: Bool
    /// How long a statement may wait for a row or table lock before failing with 55P03;
    /// `nil` uses the connection's setting.
    public var lockTimeout: Duration?

    /// Options for one transaction; `lockTimeout` overrides the connection's for it.
    public init(isolation: Isolation = .readCommitted, readOnly: Bool = false, lockTimeout: Duration? = nil) {
        self.isolation = isolation
        self.readOnly = readOnly
        self.lockTimeout = lockTimeout
    }
}

/// The statements of one open transaction. Only `Connection.withTransaction` makes one, and
/// it always ends it, so a transaction cannot be left open.
public struct Transaction {
    let connection: Connection

    /// Runs one statement in the transaction and returns all of its rows.
    @discardableResult
    public func query(_ query: Query, step: String) throws -> QueryResult {
        try connection.query(query, step: step)
    }

    /// Runs one statement and hands its rows to `body` one at a time, as they arrive.
    public func forEachRow(_ query: Query, step: String, _ body: (Row) throws -> Void) throws {
        try connection.forEachRow(query, step: step, body)
    }

    /// Runs trusted, multi-statement SQL (a migration) in the transaction.
    public func execute(_ script: SQLScript, step: String) throws {
        try connection.execute(script, step: step)
    }

    /// Streams `rows` through `COPY ... FROM STDIN` (`statement`), in the transaction; returns the
    /// number of rows the server took.
    public func copyIn(_ statement: Query, rows: some Sequence<[String?]>, step: String) throws -> Int {
        try connection.copyIn(statement, rows: rows, step: step)
    }

    /// NOTICE and WARNING messages the server sent since the last call, oldest first.
    public func takeNotices() -> [String] { connection.takeNotices() }
}

extension Connection {
    /// Runs `body` in one transaction: COMMIT when it returns, ROLLBACK when it throws.
    ///
    /// The time limits and the connection's `transactionSettings` are set with `SET LOCAL`
    /// semantics (`set_config(..., true)`), so they end with the transaction and leave no state
    /// on a pooled server connection.
    public func withTransaction<T>(
        _ options: TransactionOptions = TransactionOptions(),
        _ body: (Transaction) throws -> T
    ) throws -> T {
        let transaction = Transaction(connection: self)
        let value: T
        do {
            let lockTimeout = (options.lockTimeout ?? settings.lockTimeout).wholeMilliseconds
            let statementTimeout = settings.statementTimeout.wholeMilliseconds
            // BEGIN and the limits in one round trip: over a WAN to a hosted database each
            // round trip is tens of milliseconds.
            _ = try pipeline(
                [
                    Self.beginStatement(options),
                    Self.settingsStatement(
                        [("lock_timeout", String(lockTimeout)), ("statement_timeout", String(statementTimeout))]
                            + settings.transactionSettings),
                ], step: "starting a transaction")
            value = try body(transaction)
        } catch {
            rollBackQuietly()
            throw error
        }
        do {
            try query("COMMIT", step: "committing")
        } catch let error as PGError where error.kind == .connectionLost || error.kind == .timedOut {
            // The COMMIT may have reached the server before the connection broke.
            throw PGError(
                .commitOutcomeUnknown, step: "committing",
                message: "\(error.message); the change may or may not have been saved",
                sqlState: error.sqlState)
        }
        return value
    }

    /// Runs `statements` as one transaction in one round trip: BEGIN, the settings (as
    /// `withTransaction` sets them), the statements and COMMIT go in one pipeline. For a
    /// transaction whose statements do not need each other's results, over a connection where
    /// each round trip costs (a hosted database). After a failure nothing is committed: the
    /// statements after it are skipped, COMMIT with them, and the transaction is rolled back.
    /// Returns each statement's result.
    public func transactionInOneRoundTrip(
        _ statements: [Query], _ options: TransactionOptions = TransactionOptions(), step: String
    ) throws -> [QueryResult] {
        let lockTimeout = (options.lockTimeout ?? settings.lockTimeout).wholeMilliseconds
        let statementTimeout = settings.statementTimeout.wholeMilliseconds
        let opening = [
            Self.beginStatement(options),
            Self.settingsStatement(
                [("lock_timeout", String(lockTimeout)), ("statement_timeout", String(statementTimeout))]
                    + settings.transactionSettings),
        ]
        do {
            let results = try pipeline(opening + statements + ["COMMIT"], step: step)
            guard results.count == opening.count + statements.count + 1 else {
                throw PGError(.unexpectedResult, step: step, message: "a statement of the transaction had no result")
            }
            return Array(results[opening.count..<(opening.count + statements.count)])
        } catch let error as PGError where error.kind == .connectionLost || error.kind == .timedOut {
            // COMMIT was sent with the rest: it may have reached the server.
            throw PGError(
                .commitOutcomeUnknown, step: step,
                message: "\(error.message); the change may or may not have been saved", sqlState: error.sqlState)
        } catch {
            rollBackQuietly()
            throw error
        }
    }

    private func rollBackQuietly() {
        // A broken connection rolls back by itself when the server notices it is gone.
        _ = try? query("ROLLBACK", step: "rolling back")
    }

    /// Every setting in one statement, names and values as parameters.
    private static func settingsStatement(_ settings: [(name: String, value: String)]) -> Query {
        """
        SELECT set_config(s.name, s.value, true)
        FROM unnest(\(settings.map(\.name))::text[], \(settings.map(\.value))::text[]) AS s(name, value)
        """
    }

    private static func beginStatement(_ options: TransactionOptions) -> Query {
        switch (options.isolation, options.readOnly) {
        case (.readCommitted, false): "BEGIN"
        case (.readCommitted, true): "BEGIN READ ONLY"
        case (.repeatableRead, false): "BEGIN ISOLATION LEVEL REPEATABLE READ"
        case (.repeatableRead, true): "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        }
    }
}
