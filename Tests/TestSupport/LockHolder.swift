import Postgres

/// Another session that holds a lock until it is released (or dropped), so a test can show
/// what the tool does when it has to wait.
public final class LockHolder {
    private let connection: Connection
    private var holding = true

    /// Opens a transaction on a connection of its own and runs `lock` in it.
    public init(_ lock: Query, settings: ConnectionSettings) throws {
        connection = try Connection(settings: settings)
        try connection.query("BEGIN", step: "holding a lock")
        try connection.query(lock, step: "holding a lock")
    }

    /// Ends the transaction, releasing the lock.
    public func release() throws {
        guard holding else { return }
        holding = false
        try connection.query("ROLLBACK", step: "releasing the lock")
    }

    deinit { try? release() }
}
