import Foundation
import TestSupport
import Testing

@testable import Postgres

@Suite struct ConnectionTests {
    @Test func parametersArriveAsDataNotSQL() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let connection = try database.connect()
            let tricky = ["plain", "quote\"d", "back\\slash", "com,ma", "{brace}", "'; DROP TABLE x; --", "NULL", ""]
            let result = try connection.query(
                "SELECT value FROM unnest(\(tricky)::text[]) WITH ORDINALITY AS t(value, position) ORDER BY position",
                step: "round trip")
            #expect(try result.rows.map { try $0.decode("value", as: String.self) } == tricky)
        }
    }

    @Test func decodingNamesTheColumnAndType() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let row = try database.connect().query("SELECT 'abc'::text AS word, NULL::int AS nothing", step: "t")
                .singleRow()
            #expect(throws: PGError.self) { try row.decode("word", as: Int.self) }
            #expect(throws: PGError.self) { try row.decode("nothing", as: Int.self) }
            #expect(try row.decodeIfPresent("nothing", as: Int.self) == nil)
            #expect(throws: PGError.self) { try row.decode("missing", as: String.self) }
        }
    }

    @Test func serverErrorsCarrySQLStateAndNeverTheDetail() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.query("CREATE TABLE t (secret text UNIQUE)", step: "setup")
            try connection.query("INSERT INTO t VALUES (\("top-secret-value"))", step: "first")
            #expect {
                try connection.query("INSERT INTO t VALUES (\("top-secret-value"))", step: "second")
            } throws: { error in
                let error = error as! PGError
                return error.sqlState == .uniqueViolation && error.constraintName == "t_secret_key"
                    && !error.description.contains("top-secret-value")
            }
        }
    }

    @Test func transactionCommitsWhenTheBodyReturnsAndRollsBackWhenItThrows() throws {
        struct Abort: Error {}
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.query("CREATE TABLE t (n int)", step: "setup")
            _ = try connection.withTransaction { try $0.query("INSERT INTO t VALUES (1)", step: "kept") }
            #expect(throws: Abort.self) {
                try connection.withTransaction { transaction in
                    try transaction.query("INSERT INTO t VALUES (2)", step: "dropped")
                    throw Abort()
                }
            }
            #expect(try database.values("SELECT n::text AS value FROM t ORDER BY n") == ["1"])
            // The connection is usable again after the rollback, outside any transaction.
            #expect(try database.integer("SELECT count(*) AS value FROM t") == 1)
        }
    }

    /// BEGIN, the settings, the statements and COMMIT in one pipeline: all of it or none.
    @Test func aTransactionInOneRoundTripIsAllOrNothingWithItsSettings() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            var settings = database.settings(statementTimeout: .milliseconds(4500), lockTimeout: .milliseconds(700))
            settings.transactionSettings = [("keyadmin.actor", "tester")]
            let connection = try Connection(settings: settings)
            try connection.query("CREATE TABLE t (n int CHECK (n < 10))", step: "setup")
            let results = try connection.transactionInOneRoundTrip(
                [
                    "INSERT INTO t VALUES (\(1)), (\(2))",
                    """
                    SELECT current_setting('statement_timeout') || ' ' || current_setting('lock_timeout') || ' '
                           || current_setting('keyadmin.actor') AS value
                    """,
                ], step: "kept")
            #expect(results.count == 2)
            #expect(try results[1].singleRow().decode("value", as: String.self) == "4500ms 700ms tester")
            #expect {
                try connection.transactionInOneRoundTrip(
                    ["INSERT INTO t VALUES (3)", "INSERT INTO t VALUES (30)", "INSERT INTO t VALUES (4)"],
                    step: "dropped")
            } throws: { error in
                (error as? PGError)?.sqlState?.rawValue == "23514"
            }
            #expect(try database.values("SELECT n::text AS value FROM t ORDER BY n") == ["1", "2"])
            // The connection is usable again, outside any transaction, its settings gone.
            let after: String = try connection.query(
                "SELECT coalesce(current_setting('keyadmin.actor', true), '') || '|' AS value", step: "after"
            ).singleRow().decode("value")
            #expect(after == "|")
        }
    }

    @Test func statementTimeoutCancelsALongStatement() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let connection = try Connection(settings: database.settings(statementTimeout: .milliseconds(300)))
            let started = Date()
            #expect {
                try connection.withTransaction { try $0.query("SELECT pg_sleep(30)", step: "sleeping") }
            } throws: { error in
                (error as? PGError)?.sqlState == .queryCanceled
            }
            #expect(Date().timeIntervalSince(started) < 10)
        }
    }

    /// The limits are the server's own, so the server cancels and releases locks even if the
    /// client is gone; they hold for the transaction only, leaving no state on a pooled session.
    @Test func timeLimitsAndSettingsAreSetOnTheServerForTheTransactionOnly() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            var settings = database.settings(statementTimeout: .milliseconds(4500), lockTimeout: .milliseconds(700))
            settings.transactionSettings = [("keyadmin.actor", "tester")]
            let connection = try Connection(settings: settings)
            let read: Query = """
                SELECT current_setting('statement_timeout') || ' ' || current_setting('lock_timeout') || ' '
                       || coalesce(current_setting('keyadmin.actor', true), '') AS value
                """
            let before: String = try connection.query(read, step: "before").singleRow().decode("value")
            let inside: String = try connection.withTransaction {
                try $0.query(read, step: "inside").singleRow().decode("value")
            }
            let shorter: String = try connection.withTransaction(TransactionOptions(lockTimeout: .milliseconds(250))) {
                try $0.query(read, step: "own lock timeout").singleRow().decode("value")
            }
            let after: String = try connection.query(read, step: "after").singleRow().decode("value")
            #expect(inside == "4500ms 700ms tester")
            #expect(shorter == "4500ms 250ms tester")
            #expect(after == before)
            #expect(!before.contains("4500ms") && !before.contains("tester"))
        }
    }

    /// TCP limits make a dead network an error instead of a 15-minute wait; a connection
    /// string's own values win.
    @Test func connectionsCarryTCPLimitsUnlessTheStringSetsItsOwn() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let ours = try database.connect().options
            #expect(ours["tcp_user_timeout"] == "30000")
            #expect(ours["keepalives_idle"] == "30")
            #expect(ours["keepalives"] != "0")
            var own = database.settings()
            own.connectionString += " tcp_user_timeout=12345 keepalives_idle=77 connect_timeout=4"
            let theirs = try Connection(settings: own).options
            #expect(theirs["tcp_user_timeout"] == "12345")
            #expect(theirs["keepalives_idle"] == "77")
            #expect(theirs["connect_timeout"] == "4")
        }
    }

    /// A password equal to the user and database (docker-compose's postgres) or to a letter of
    /// the message: the error still names the database and the port it tried, unmasked.
    @Test(arguments: ["postgres", "p", "o"])
    func aPasswordLikeAWordHidesNoOtherWord(_ password: String) throws {
        let url = "postgresql://postgres:\(password)@127.0.0.1:1/postgres?connect_timeout=5"
        #expect(throws: PGError.self) { _ = try Connection(settings: ConnectionSettings(connectionString: url)) }
        do {
            _ = try Connection(settings: ConnectionSettings(connectionString: url))
        } catch let error as PGError {
            #expect(error.description.contains("127.0.0.1:1/postgres"), "\(error.description)")
            #expect(error.description.contains("port 1 failed"), "\(error.description)")
            #expect(!error.description.contains("*"), "\(error.description)")
        }
    }

    /// A refused login (wrong password where the server checks passwords, a missing database
    /// everywhere) is a connection error that never shows the password it was given.
    @Test(arguments: ["wrong-password", "missing-database"])
    func failedConnectionErrorNamesNoPassword(_ failure: String) throws {
        let admin = try TestServer.adminConnection()
        let user = "keyadmin_pw_\(getpid())_\(failure.prefix(1))"
        try admin.execute(
            SQLScript(trustedSQL: "DROP ROLE IF EXISTS \(user); CREATE ROLE \(user) LOGIN PASSWORD 'right-Pa55word'"),
            step: "role")
        defer { _ = try? admin.execute(SQLScript(trustedSQL: "DROP ROLE IF EXISTS \(user)"), step: "drop role") }
        // The missing database is named like the password (a paste into the wrong place), so
        // the server's own message repeats it.
        let password = failure == "missing-database" ? "right-Pa55word" : "wrong-Pa55word"
        var fields = try TestServer.settings.connectionString(
            withDatabase: failure == "missing-database" ? password : "postgres")
        fields += " user=\(user) password=\(password)"
        do {
            _ = try Connection(settings: ConnectionSettings(connectionString: fields))
            // Reached only where the server trusts every login (no passwords checked).
            #expect(failure == "wrong-password", "connected to a database that does not exist")
        } catch let error as PGError {
            #expect(error.kind == .connectionFailed)
            #expect(!error.description.contains(password), "\(error.description)")
            if failure == "missing-database" { #expect(error.description.contains("does not exist")) }
        }
    }

    /// A database that exists under a name equal to the password (a local Supabase's
    /// postgres/postgres/postgres) keeps its name in the target every result line shows.
    @Test func anExistingDatabaseNamedLikeThePasswordKeepsItsName() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let admin = try TestServer.adminConnection()
            let user = "keyadmin_same_\(getpid())"
            try admin.execute(
                SQLScript(
                    trustedSQL: "DROP ROLE IF EXISTS \(user); CREATE ROLE \(user) LOGIN PASSWORD '\(database.name)'"),
                step: "role")
            defer { _ = try? admin.execute(SQLScript(trustedSQL: "DROP ROLE IF EXISTS \(user)"), step: "drop role") }
            let fields =
                try TestServer.settings.connectionString(withDatabase: database.name)
                + " user=\(user) password=\(database.name)"
            let connection = try Connection(settings: ConnectionSettings(connectionString: fields))
            #expect(connection.target.hasSuffix("/\(database.name)"), "\(connection.target)")
        }
    }

    @Test func streamingHandsOverEveryRowInOrder() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            var seen: [Int] = []
            try database.connect().forEachRow("SELECT g AS n FROM generate_series(1, 2500) AS g", step: "stream") {
                row in
                seen.append(try row.decode("n"))
            }
            #expect(seen == Array(1...2500))
        }
    }
}

@Suite struct CopyTests {
    @Test func copyCarriesEveryByteAsData() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.query("CREATE TABLE t (n int, value text)", step: "setup")
            let values = ["plain", "tab\there", "new\nline", "back\\slash", "\\N", "cr\rhere", "'; DROP TABLE t; --"]
            let stored = try connection.copyIn(
                "COPY t (n, value) FROM STDIN", rows: values.enumerated().map { [String($0.offset), $0.element] },
                step: "copy")
            #expect(stored == values.count)
            #expect(try database.values("SELECT value FROM t ORDER BY n") == values)
        }
    }

    @Test func aFailedCopyLeavesTheConnectionUsable() throws {
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let connection = try database.connect()
            try connection.query("CREATE TABLE t (value text UNIQUE)", step: "setup")
            #expect(throws: PGError.self) {
                try connection.copyIn("COPY t (value) FROM STDIN", rows: [["same"], ["same"]], step: "copy")
            }
            #expect(try connection.query("SELECT 1 AS one", step: "after").rowCount == 1)
        }
    }
}
