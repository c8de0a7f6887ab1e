import CLibPQ

/// One session with a PostgreSQL server. Owns its `PGconn` and closes it when released, so a
/// connection cannot leak.
///
/// Every statement goes through `PQsendQueryParams` with text parameters: no named prepared
/// statements and no session state, so the connection works through PgBouncer or Supavisor in
/// transaction pooling mode. Every wait for the server has a deadline; when it passes, the
/// statement is cancelled and the call fails instead of hanging.
public final class Connection {
    let handle: OpaquePointer
    /// The settings the connection was made with.
    public let settings: ConnectionSettings
    private var redactor: SecretRedactor
    private let noticeCollector = NoticeCollector()
    /// Set once the session cannot be trusted any more (lost, or abandoned after a timeout).
    var isBroken = false

    /// "host:port/database", for messages.
    public let target: String

    /// Connects, or throws `.invalidConnectionString` / `.connectionFailed` with a one-line,
    /// password-free message. libpq's `connect_timeout` bounds the wait.
    public init(settings: ConnectionSettings) throws {
        self.settings = settings
        redactor = settings.redactor
        let parameters = try settings.libpqParameters()
        let connection: OpaquePointer? = withCStringArray(parameters.map(\.keyword)) { keywords in
            withCStringArray(parameters.map(\.value)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let connection else {
            throw PGError(.connectionFailed, step: "connecting", message: "out of memory")
        }
        let names = [PQuser(connection), PQdb(connection)].compactMap { $0.map { String(cString: $0) } }
        redactor = redactor.adding(names.filter(settings.concealsName))
        target = Self.describeTarget(of: connection, concealing: settings.concealsName)
        guard PQstatus(connection) == CONNECTION_OK else {
            // The user and database stay readable in the message even when the password is the
            // same text (postgres, postgres, postgres on a local Supabase), unless the server says
            // that name does not exist: then it was the password pasted into the wrong place.
            let raw = String(cString: PQerrorMessage(connection)).joinedOnOneLine()
            let identifiers = Set(
                [("role", PQuser(connection)), ("database", PQdb(connection))].compactMap { kind, name in
                    name.map { String(cString: $0) }.flatMap {
                        raw.contains("\(kind) \"\($0)\" does not exist") ? nil : $0
                    }
                })
            let message = redactor.redact(raw, keeping: identifiers)
            PQfinish(connection)
            // The target names the user's host, port and database: a password equal to the
            // database's name (postgres, postgres, postgres on a local Supabase) leaves it readable.
            throw PGError(
                .connectionFailed, step: "connecting to \(redactor.redact(target, keeping: identifiers))",
                message: message)
        }
        handle = connection
        let context = Unmanaged.passUnretained(noticeCollector).toOpaque()
        PQsetNoticeProcessor(
            handle,
            { context, message in
                guard let context, let message else { return }
                Unmanaged<NoticeCollector>.fromOpaque(context).takeUnretainedValue()
                    .append(String(cString: message).joinedOnOneLine())
            }, context)
    }

    deinit { PQfinish(handle) }

    /// How this session is protected on the wire: whether it uses TLS, the sslmode libpq used,
    /// and whether the server is on this machine (loopback or a Unix-domain socket).
    public var transportSecurity: (tls: Bool, sslMode: String, local: Bool) {
        let mode = options["sslmode"] ?? "prefer"
        let host = PQhost(handle).map { String(cString: $0) } ?? ""
        return (PQsslInUse(handle) == 1, mode, ConnectionSettings.isLocal(host: host))
    }

    /// The connection options libpq used for this session (those with values), after the
    /// connection string, the environment and our defaults were combined.
    var options: [String: String] { PQconninfo(handle).map(takingConninfoFields) ?? [:] }

    /// NOTICE and WARNING messages the server sent since the last call, oldest first.
    public func takeNotices() -> [String] { noticeCollector.take() }

    // MARK: - Statements

    /// Runs one statement and returns all of its rows.
    @discardableResult
    public func query(_ query: Query, step: String) throws -> QueryResult {
        try send(query, step: step)
        var answer: QueryResult?
        let failure = try drainResults(step: step) { result in
            if answer == nil { answer = result }
        }
        if let failure { throw failure }
        guard let answer else {
            throw PGError(.unexpectedResult, step: step, message: "the server sent no result")
        }
        return answer
    }

    /// Runs one statement and hands its rows to `body` one at a time, as they arrive (libpq's
    /// single-row mode), so memory stays flat however many rows there are.
    public func forEachRow(_ query: Query, step: String, _ body: (Row) throws -> Void) throws {
        try send(query, step: step)
        PQsetSingleRowMode(handle)
        let failure = try drainResults(step: step) { result in
            if result.status == PGRES_SINGLE_TUPLE { try body(Row(result: result, index: 0)) }
        }
        if let failure { throw failure }
    }

    /// Runs trusted, multi-statement SQL (a migration file) with the simple query protocol.
    /// Never give it text that came from a user: that is what `query` and its parameters are for.
    public func execute(_ script: SQLScript, step: String) throws {
        try ensureUsable(step: step)
        guard PQsendQuery(handle, script.text) == 1 else { throw sendFailure(step: step) }
        if let failure = try drainResults(step: step) { throw failure }
    }

    // MARK: - The wire
    // Internal rather than private: Pipeline.swift and CopyIn.swift build on these. Nothing
    // outside this target sees them.

    func send(_ query: Query, step: String) throws {
        try ensureUsable(step: step)
        try sendParameterized(query, step: step)
    }

    /// The only call that sends a statement with values: PQsendQueryParams, text parameters,
    /// the unnamed statement (nothing prepared outlives it, which poolers require).
    func sendParameterized(_ query: Query, step: String) throws {
        let sent = withOptionalCStringArray(query.parameters) { values in
            PQsendQueryParams(handle, query.sql, Int32(query.parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw sendFailure(step: step) }
    }

    /// Reads the answer to the statement under way to its end, so that the connection is ready
    /// for the next one, even after an error. Results that are not errors go to `body`; the
    /// first error (the server's, or one `body` threw) is returned, later ones are dropped.
    func drainResults(step: String, _ body: (QueryResult) throws -> Void = { _ in }) throws -> Error? {
        var failure: Error?
        while let result = try nextResult(step: step) {
            guard failure == nil else { continue }
            if let error = error(in: result, step: step) {
                failure = error
            } else {
                do { try body(result) } catch { failure = error }
            }
        }
        return failure
    }

    func ensureUsable(step: String) throws {
        if isBroken || PQstatus(handle) != CONNECTION_OK {
            isBroken = true
            throw PGError(.connectionLost, step: step, message: "the connection to \(target) is closed")
        }
    }

    func sendFailure(step: String) -> PGError {
        isBroken = PQstatus(handle) != CONNECTION_OK
        return PGError(
            isBroken ? .connectionLost : .unexpectedResult, step: step,
            message: redactor.redact(String(cString: PQerrorMessage(handle)).joinedOnOneLine()))
    }

    /// The next result of the statement under way, or `nil` when it is complete. Waits at most
    /// the statement timeout plus a grace period (the server's own `statement_timeout` should
    /// fire first); then cancels the statement and gives up on the connection.
    func nextResult(step: String) throws -> QueryResult? {
        // The grace period lets the server's own statement_timeout (set in transactions) fire
        // first, with its clearer error.
        let limit = settings.statementTimeout + .seconds(2)
        var deadline = Deadline(after: limit)
        var cancelled = false
        while PQisBusy(handle) == 1 {
            let ready = waitForSocket(until: deadline)
            if !ready {
                if cancelled {
                    isBroken = true
                    throw PGError(
                        .timedOut, step: step,
                        message:
                            "\(target) did not answer within \(limit.wholeMilliseconds / 1000) seconds, even after the statement was cancelled"
                    )
                }
                cancelled = true
                cancel()
                deadline = Deadline(after: .seconds(3))
                continue
            }
            if PQconsumeInput(handle) == 0 { throw lostConnection(step: step) }
        }
        guard let raw = PQgetResult(handle) else {
            if cancelled {
                throw PGError(
                    .timedOut, step: step,
                    message: "no answer within \(limit.wholeMilliseconds / 1000) seconds; the statement was cancelled")
            }
            return nil
        }
        let result = QueryResult(taking: raw, step: step)
        if result.status == PGRES_FATAL_ERROR, PQstatus(handle) != CONNECTION_OK {
            // Drain whatever is left; the error below says what happened.
            while let rest = PQgetResult(handle) { PQclear(rest) }
            throw lostConnection(step: step, serverResult: result)
        }
        return result
    }

    func lostConnection(step: String, serverResult: QueryResult? = nil) -> PGError {
        isBroken = true
        var message = String(cString: PQerrorMessage(handle)).joinedOnOneLine()
        if let serverResult, let serverMessage = serverResult.errorField(.message) {
            message = serverMessage
        }
        if message.isEmpty { message = "the server closed the connection" }
        return PGError(
            .connectionLost, step: step, message: redactor.redact(message),
            sqlState: serverResult?.errorField(.sqlState).map(SQLState.init(rawValue:)))
    }

    /// Asks the server to cancel the statement under way, over a separate connection as libpq does.
    ///
    /// PQcancel has no time limit of its own: against a server that has stopped answering
    /// altogether it would block forever. It runs on a detached thread of its own, and the
    /// caller waits for the statement's answer with its own deadline either way.
    private func cancel() {
        guard let cancelHandle = PQgetCancel(handle) else { return }
        let started = runDetached(UnsafeMutableRawPointer(cancelHandle)) { argument in
            guard let argument else { return nil }
            let request = OpaquePointer(argument)
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(request, &buffer, Int32(buffer.count))
            PQfreeCancel(request)
            return nil
        }
        if !started { PQfreeCancel(cancelHandle) }
    }

    private func waitForSocket(until deadline: Deadline) -> Bool {
        let socket = PQsocket(handle)
        guard socket >= 0 else { return true }  // let PQconsumeInput report the broken connection
        return waitUntilReadable(socket, until: deadline)
    }

    /// The server's error in `result`, if it is one. Reads the SQLSTATE, primary message, hint
    /// and constraint name; never the DETAIL, which quotes row values (keys).
    func error(in result: QueryResult, step: String) -> PGError? {
        let status = result.status
        guard status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR else {
            return nil
        }
        let message = result.errorField(.message) ?? String(cString: PQerrorMessage(handle)).joinedOnOneLine()
        return PGError(
            .server, step: step, message: redactor.redact(message),
            sqlState: result.errorField(.sqlState).map(SQLState.init(rawValue:)),
            hint: result.errorField(.hint).map { redactor.redact($0) },
            constraintName: result.errorField(.constraintName))
    }

    private static func describeTarget(
        of connection: OpaquePointer, concealing conceals: (String) -> Bool
    ) -> String {
        func field(_ value: UnsafeMutablePointer<CChar>?) -> String {
            value.map { String(cString: $0) } ?? ""
        }
        var host = field(PQhost(connection))
        if host.isEmpty || host.hasPrefix("/") {
            host = "local socket \(host.isEmpty ? "" : host)".trimmingWhitespace()
        }
        let port = field(PQport(connection))
        var database = field(PQdb(connection))
        if conceals(database) { database = "********" }
        return "\(host)\(port.isEmpty ? "" : ":\(port)")\(database.isEmpty ? "" : "/\(database)")"
    }
}

/// SQL text that is run as it is, for migrations shipped with the product. The name is the
/// warning: nothing a user typed may ever become one.
public struct SQLScript: Sendable {
    /// The SQL, run as it is.
    public let text: String
    /// SQL shipped with the product; never text that came from a user.
    public init(trustedSQL text: String) { self.text = text }
}

/// Notices arrive through a C callback; this box is what the callback's context points to.
private final class NoticeCollector {
    private var notices: [String] = []
    func append(_ notice: String) { notices.append(notice) }
    func take() -> [String] {
        defer { notices = [] }
        return notices
    }
}
