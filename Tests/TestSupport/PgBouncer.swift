import Foundation
import Postgres

/// PgBouncer in transaction pooling mode in front of the test server, as Supabase's pooler on
/// port 6543 behaves: consecutive transactions of one client may run on different server
/// connections, so any session state would leak or vanish.
public final class PgBouncer {
    /// The port PgBouncer listens on, on 127.0.0.1.
    public let port: Int
    private let process: Process
    private let directory: URL

    static let executable = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].first(
        where: FileManager.default.isExecutableFile)

    /// scripts/test.sh installs pgbouncer when it can, and says so when it cannot.
    public static var isInstalled: Bool { executable != nil }

    /// Starts PgBouncer in transaction mode in front of the test server.
    public init() throws {
        guard let executable = Self.executable else {
            throw TestSupportError("pgbouncer is not installed (scripts/test.sh installs it)")
        }
        let fields = try TestServer.settings.parsedFields()
        let environment = ProcessInfo.processInfo.environment
        func field(_ key: String, _ variable: String, _ fallback: String) -> String {
            fields[key] ?? environment[variable] ?? fallback
        }
        // The address the tests reach the server by (a Docker container's own port differs
        // from the published one), else the port the server reports.
        var serverPort = fields["port"] ?? environment["PGPORT"]
        if serverPort == nil {
            let admin = try TestServer.adminConnection()
            serverPort = String(
                try admin.query("SELECT inet_server_port() AS port", step: "port").singleRow().decode(
                    "port", as: Int.self))
        }
        var host = field("host", "PGHOST", "127.0.0.1")
        if host.hasPrefix("/") || host == "localhost" { host = "127.0.0.1" }
        var server = "host=\(host) port=\(serverPort ?? "5432") user=\(field("user", "PGUSER", "postgres"))"
        if let password = fields["password"] ?? environment["PGPASSWORD"] { server += " password=\(password)" }

        port = try freeTCPPort()
        directory = URL(fileURLWithPath: "/tmp/keyadmin-pgbouncer-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try PrivateServer.giveToServerUser(directory)
        let configuration = directory.appendingPathComponent("pgbouncer.ini")
        try """
        [databases]
        * = \(server)

        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = \(port)
        unix_socket_dir =
        auth_type = any
        pool_mode = transaction
        max_client_conn = 200
        default_pool_size = 4
        ignore_startup_parameters = extra_float_digits,options
        logfile = \(directory.path)/pgbouncer.log
        """.write(to: configuration, atomically: true, encoding: .utf8)
        chmod(configuration.path, 0o644)

        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // PgBouncer refuses to run as root.
        process.arguments =
            (getuid() == 0 ? ["runuser", "-u", "postgres", "--"] : []) + [executable, configuration.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if (try? Connection(
                settings: ConnectionSettings(
                    connectionString: "host=127.0.0.1 port=\(port) dbname=postgres connect_timeout=2"))) != nil
            {
                return
            }
            usleep(50_000)
        }
        process.terminate()
        throw TestSupportError(
            "pgbouncer did not start: \((try? String(contentsOfFile: directory.path + "/pgbouncer.log", encoding: .utf8)) ?? "")"
        )
    }

    /// The connection string for `database` through the pooler.
    public func connectionString(database: String) -> String {
        "host=127.0.0.1 port=\(port) dbname=\(database) user=postgres"
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}
