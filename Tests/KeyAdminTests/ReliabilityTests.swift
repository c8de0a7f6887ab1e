import Foundation
import Postgres
import TestSupport
import Testing

/// Load, faults and pooling: keys are stored whole or not at all, and the tool never hangs.
@Suite struct ReliabilityTests {

    func writeKeys(_ keys: some Sequence<String>) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bulk-\(UUID().uuidString).txt")
        try keys.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Waits until a backend of `applicationName` is running a statement, so a fault hits mid-load.
    func waitForActiveBackend(_ database: TestDatabase, applicationName: String) throws -> Int? {
        for _ in 0..<200 {
            if let pid = try database.integer(
                """
                SELECT pid AS value FROM pg_stat_activity
                WHERE application_name = \(applicationName) AND state = 'active' AND (query LIKE 'COPY%' OR query LIKE '%unnest%') LIMIT 1
                """)
            {
                return pid
            }
            usleep(20_000)
        }
        return nil
    }

    @Test func tenWritersAtOnceLoseNothingAndShareNoNumber() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let files = try (0..<5).map { writer in try writeKeys((1...2_000).map { "sk-bulk-\(writer)-\($0)-abcdef" })
            }
            defer { for file in files { try? FileManager.default.removeItem(at: file) } }
            let results = Locked<[KeyAdminProcess.Output]>([])
            DispatchQueue.concurrentPerform(iterations: 10) { worker in
                let arguments =
                    worker < 5
                    ? ["--add-bulk", "openai", "--file", files[worker].path, "--lock-timeout", "60"]
                    : ["--add-key", "openai", "sk-single-writer-\(worker)-abcdef", "--lock-timeout", "60"]
                if let output = try? keyadmin(database, arguments) { results.withLock { $0.append(output) } }
            }
            let outputs = results.withLock { $0 }
            #expect(outputs.count == 10)
            #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs.map(\.stderr))")
            #expect(
                try database.values(
                    """
                    SELECT count(*) || ' ' || count(DISTINCT key_number) || ' ' || count(DISTINCT api_key) || ' ' || max(key_number) AS value
                    FROM provider_api_keys
                    """) == ["10005 10005 10005 10005"])
        }
    }

    @Test func aHeldLockIsReportedAsBusyNotAHang() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let holder = try LockHolder(
                "SELECT id FROM providers WHERE provider_name = 'openai' FOR UPDATE", settings: database.settings())
            let started = Date()
            let blocked = try keyadmin(
                database, ["--add-key", "openai", "sk-waits-for-lock-0001", "--lock-timeout", "0.5"])
            #expect(blocked.status == 4)
            #expect(
                blocked.stderr.hasPrefix(
                    "error: locking provider openai: another session holds what this command needs"))
            #expect(blocked.stderr.contains("try again"))
            // Well under the 5 s default: the command's own --lock-timeout is what ended the wait.
            #expect(Date().timeIntervalSince(started) < 3.5)
            try holder.release()
            #expect(try keyadmin(database, ["--add-key", "openai", "sk-waits-for-lock-0001"]).status == 0)
        }
    }

    @Test func aStatementPastItsLimitIsCancelled() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try keyadmin(database, ["--add-provider", "openai"])
            let holder = try LockHolder(
                "LOCK TABLE provider_api_keys IN ACCESS EXCLUSIVE MODE", settings: database.settings())
            defer { try? holder.release() }
            let started = Date()
            // --get-key is one autocommit statement with no server-side limit: the client's
            // own deadline (statement timeout + grace) has to cancel it.
            let stuck = try keyadmin(database, ["--get-key", "openai", "1", "--statement-timeout", "1"])
            #expect(stuck.status == 4)
            #expect(stuck.stderr.hasPrefix("error: "))
            #expect(Date().timeIntervalSince(started) < 8)
        }
    }

    @Test func aServerThatNeverAnswersTimesOutAfterTenSeconds() throws {
        let listener = try TCPListener()
        let started = Date()
        let output = try KeyAdminProcess.run([
            "--database-url", "postgresql://u:hunter2@127.0.0.1:\(listener.port)/db", "--list",
        ])
        let elapsed = Date().timeIntervalSince(started)
        #expect(output.status == 1)
        #expect(output.stderr.contains("timeout expired"))
        #expect(!output.stderr.contains("hunter2"))
        #expect(elapsed > 9 && elapsed < 15, "took \(elapsed) s")
    }

    /// A load of 300,000 keys under way: the process, and its server backend once it is
    /// running a statement, so a fault can hit mid-load.
    struct LoadUnderWay {
        let process: RunningKeyAdmin
        let applicationName: String
        let backend: Int?
        let file: URL
    }

    func startLargeLoad(into database: TestDatabase) throws -> LoadUnderWay {
        _ = try keyadmin(database, ["--add-provider", "openai"])
        let file = try writeKeys((1...300_000).map { "sk-mid-load-\($0)-abcdef" })
        let name = "keyadmin_fault_\(UUID().uuidString.prefix(8))"
        let process = try RunningKeyAdmin([
            "--database-url", database.connectionString + " application_name=\(name)", "--add-bulk", "openai", "--file",
            file.path,
        ])
        return LoadUnderWay(
            process: process, applicationName: name, backend: try waitForActiveBackend(database, applicationName: name),
            file: file)
    }

    @Test func terminatedSessionMidLoadStoresNothing() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let load = try startLargeLoad(into: database)
            defer { try? FileManager.default.removeItem(at: load.file) }
            #expect(load.backend != nil)
            if let backend = load.backend {
                _ = try database.values("SELECT pg_terminate_backend(\(backend))::text AS value")
            }
            let output = load.process.wait()
            #expect(output.status == 1)
            #expect(output.stderr.hasPrefix("error: "))
            #expect(output.stderr.split(separator: "\n").count == 1)
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 0)
        }
    }

    @Test(arguments: [SIGINT, SIGKILL])
    func interruptedOrKilledMidLoadStoresNothing(signal: Int32) throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let load = try startLargeLoad(into: database)
            defer { try? FileManager.default.removeItem(at: load.file) }
            let name = load.applicationName
            #expect(load.backend != nil)
            load.process.send(signal)
            let output = load.process.wait()
            #expect(output.status == 128 + signal)
            // The server notices the closed connection and rolls the transaction back.
            var remaining: Int? = 1
            for _ in 0..<100 {
                remaining = try database.integer(
                    "SELECT count(*) AS value FROM pg_stat_activity WHERE application_name = \(name)")
                if remaining == 0 { break }
                usleep(50_000)
            }
            #expect(remaining == 0)
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 0)
        }
    }

    /// The whole server freezes while a statement is under way: even the cancel request gets no
    /// answer. The tool gives up by itself (statement limit + grace, then 3 s for the cancel).
    @Test(.enabled(if: PrivateServer.isAvailable, "no PostgreSQL server binaries"))
    func aServerThatFreezesMidStatementIsAbandoned() throws {
        let server = try PrivateServer()
        let url = server.connectionString
        #expect(try KeyAdminProcess.run(["--database-url", url, "--migrate"]).status == 0)
        #expect(try KeyAdminProcess.run(["--database-url", url, "--add-provider", "openai"]).status == 0)
        let holder = try LockHolder(
            "LOCK TABLE provider_api_keys IN ACCESS EXCLUSIVE MODE", settings: ConnectionSettings(connectionString: url)
        )
        let started = Date()
        let stuck = try RunningKeyAdmin(["--database-url", url, "--get-key", "openai", "1", "--statement-timeout", "1"])
        usleep(500_000)
        try server.freeze(true)
        let output = stuck.wait()
        try server.freeze(false)
        try holder.release()  // also keeps the lock held until here: ARC may end a value after its last use
        let elapsed = Date().timeIntervalSince(started)
        #expect(output.status == 4)
        #expect(output.stderr.hasPrefix("error: reading key #1 of openai:"))
        #expect(elapsed < 10, "took \(elapsed) s")
    }

    /// A server on another machine without TLS: the tool refuses to send the password in clear
    /// unless the connection string says so. "Another machine" is an address of a network
    /// namespace the test makes (unshare -n), where a private server listens: no packet leaves it.
    @Test(
        .enabled(
            if: NetworkNamespace.isAvailable && PrivateServer.isAvailable,
            "no unshare -n as root, or no server binaries"))
    func tlsIsRequiredForServersOnOtherMachines() throws {
        let binaries = try PrivateServer.findBinaries().path
        let address = NetworkNamespace.remoteAddress
        let result = try NetworkNamespace.run(
            """
            data=$(mktemp -d /tmp/keyadmin-ns-XXXXXX)
            chown postgres "$data"
            as_postgres() { runuser -u postgres -- "$@"; }
            as_postgres "$BIN/initdb" -D "$data/pg" -U postgres -A trust --no-sync >/dev/null
            echo "host all all \(address)/32 trust" >> "$data/pg/pg_hba.conf"
            as_postgres "$BIN/pg_ctl" -D "$data/pg" -w -l "$data/log" \
                -o "-p 5432 -c listen_addresses=\(address) -c unix_socket_directories=$data -c fsync=off" start >/dev/null
            trap 'as_postgres "$BIN/pg_ctl" -D "$data/pg" -m immediate stop >/dev/null; rm -rf "$data"' EXIT
            remote="postgresql://postgres:secret-Pa55@\(address):5432/postgres"
            set +e
            "$KEYADMIN" --database-url "$remote" --migrate 2>&1; echo "refused status $?"
            "$KEYADMIN" --database-url "$remote?sslmode=disable" --migrate 2>&1; echo "chosen status $?"
            "$KEYADMIN" --database-url "$remote?sslmode=disable" --doctor 2>&1; echo "doctor status $?"
            """, environment: ["BIN": binaries, "KEYADMIN": KeyAdminProcess.executable.path])
        #expect(result.output.contains("refused status 1"), "\(result.output)")
        #expect(result.output.contains("does not support SSL"))
        #expect(result.output.contains("sslmode=disable"))
        #expect(!result.output.contains("secret-Pa55"))
        #expect(result.output.contains("chosen status 0"), "\(result.output)")
        // --doctor says the session is not encrypted, and fails.
        #expect(
            result.output.contains("FAIL  connection: \(address):5432/postgres: this session is not encrypted"),
            "\(result.output)")
        #expect(result.output.contains("doctor status 1"))
    }

    @Test(.enabled(if: PrivateServer.isAvailable, "no PostgreSQL server binaries"))
    func theNextCommandWorksAfterTheServerRestarts() throws {
        let server = try PrivateServer()
        let url = server.connectionString
        #expect(try KeyAdminProcess.run(["--database-url", url, "--migrate"]).status == 0)
        #expect(try KeyAdminProcess.run(["--database-url", url, "--add-provider", "openai"]).status == 0)
        try server.restart()
        let after = try KeyAdminProcess.run(["--database-url", url, "--add-key", "openai", "sk-after-restart-00001"])
        #expect(after.status == 0, "\(after.stderr)")
        #expect(
            try KeyAdminProcess.run(["--database-url", url, "--get-key", "openai", "1"]).stdout
                == "sk-after-restart-00001\n")
    }

    /// Every command through PgBouncer in transaction pooling mode, as Supabase's port 6543.
    @Test(.enabled(if: PgBouncer.isInstalled, "pgbouncer is not installed"))
    func everyCommandWorksThroughPgBouncerInTransactionMode() throws {
        let bouncer = try PgBouncer()
        try TestDatabase.with(migrated: false) { (database: TestDatabase) throws in
            let url = bouncer.connectionString(database: database.name)
            func run(_ arguments: String..., stdin: String? = nil) throws -> KeyAdminProcess.Output {
                let output = try KeyAdminProcess.run(["--database-url", url] + arguments, stdin: stdin)
                #expect(output.status == 0, "\(arguments): \(output.stderr)")
                return output
            }
            _ = try run("--migrate")
            _ = try run("--add-provider", "openai")
            _ = try run("--add-key", "openai", "sk-pooled-key-000001")
            _ = try run("--add-key", "openai", "-", stdin: "sk-pooled-key-000002\n")
            _ = try run(
                "--add-bulk", "openai", stdin: (3...2_000).map { "sk-pooled-key-\($0)-x" }.joined(separator: "\n"))
            #expect(try run("--get-key", "openai", "2").stdout == "sk-pooled-key-000002\n")
            #expect(try run("--random-key", "openai").stdout.hasPrefix("sk-pooled-key-"))
            _ = try run("--update-key", "openai", "1", "sk-pooled-replaced-01")
            _ = try run("--delete-key", "openai", "2", "--yes")
            #expect(try run("--list", "--provider", "openai").stdout.contains("(1999 keys, all available)"))
            // Lifecycle and reports through the pooler: each report is one statement of its own.
            _ = try run("--disable-key", "openai", "3", "--reason", "pooled")
            _ = try run("--enable-key", "openai", "3")
            let backend = try Connection(settings: ConnectionSettings(connectionString: url))
            for _ in 0..<3 {
                let state: String? = try backend.query(
                    "SELECT report_api_key_result('openai', 'sk-pooled-key-4-x', 429, 60) AS state", step: "report"
                ).singleRow().decodeIfPresent("state")
                #expect(state == "cooling_down")
            }
            #expect(try run("--list", "--provider", "openai", "--state", "cooling").stdout.contains("#4 "))
            // Tiers, weights and the sticky pick through the pooler.
            _ = try run("--set-tier", "openai", "5", "2")
            _ = try run("--set-weight", "openai", "6", "9")
            let sticky = try (0..<3).map { _ in
                try backend.query(
                    "SELECT get_sticky_api_key('openai', 'pooled-conversation') AS key", step: "sticky"
                ).singleRow().decodeIfPresent("key", as: String.self)
            }
            #expect(sticky[0] != nil && Set(sticky).count == 1, "\(sticky)")
            #expect(try run("--history", "--key", "4").stdout.contains("cooldown started"))
            // --check through the pooler: every batch of answers is a transaction of its own.
            let api = try StandInModelsAPI(answers: [:])
            _ = try run("--set-endpoint", "openai", api.baseURL())
            #expect(try run("--check", "openai", "--concurrency", "64").stdout.contains("1999 keys: 1999 ok\n"))
            #expect(try run("--list", "--provider", "openai", "--state", "cooling").stdout.contains("no keys"))
            // Accounts, quotas and usage (migration 033) through the pooler: a count committed
            // asynchronously is still there for the next transaction on another server session.
            _ = try run("--set-account", "openai", "7", "org-a")
            _ = try run("--set-account", "openai", "8", "org-a")
            _ = try run("--set-reset", "openai", "Europe/Berlin")
            _ = try run("--set-quota", "openai", "--requests-per-day", "2")
            for _ in 0..<2 {
                _ = try backend.query(
                    "SELECT report_api_key_result('openai', 'sk-pooled-key-7-x', 200, p_tokens => 5)", step: "report")
            }
            #expect(try run("--list", "--provider", "openai", "--state", "exhausted").stdout.contains("#8 "))
            // --check's 1,999 probes are not usage; the backend's five reports are.
            #expect(try run("--usage", "openai").stdout.contains("total: 5 requests (2 2xx, 3 429), 10 tokens"))
            #expect(try run("--metrics").stdout.contains("keyadmin_tokens_total{provider=\"openai\"} 10"))
            _ = try run("--prune-usage", "--before", "2020-01-01", "--yes")
            _ = try run("--doctor")
            _ = try run("--list", "--json")
            _ = try run("--delete-provider", "openai", "--yes")
            _ = try run("--migrate")
        }
    }
}
