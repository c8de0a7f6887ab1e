import Foundation

/// A PostgreSQL server of a test's own, for tests that stop or restart it (which would disturb
/// every other test on the shared server). Runs as the postgres user when the tests run as root,
/// since PostgreSQL refuses to run as root.
public final class PrivateServer {
    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    private let directory: URL
    private let binaries: URL

    /// scripts/test.sh installs the server binaries when it can; with Docker they may be absent.
    public static var isAvailable: Bool { (try? findBinaries()) != nil }

    /// A new cluster of its own on a free port (not started yet).
    public init() throws {
        binaries = try Self.findBinaries()
        port = try freeTCPPort()
        directory = URL(fileURLWithPath: "/tmp/keyadmin-server-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.giveToServerUser(directory)
        try run("initdb", "-D", dataPath, "-U", "postgres", "-A", "trust", "--no-sync")
        try start()
    }

    /// A hot standby of `primary`: a base backup taken with `pg_basebackup -R` (which writes the
    /// settings to follow the primary), started read-only and streaming from it.
    public init(standbyOf primary: PrivateServer) throws {
        binaries = try Self.findBinaries()
        port = try freeTCPPort()
        directory = URL(fileURLWithPath: "/tmp/keyadmin-standby-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.giveToServerUser(directory)
        try run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", dataPath, "-R",
            "-X", "stream", "--no-sync")
        try start()
    }

    deinit {
        try? freeze(false)
        _ = try? run("pg_ctl", "-D", dataPath, "-m", "immediate", "stop")
        try? FileManager.default.removeItem(at: directory)
    }

    /// How to reach it.
    public var connectionString: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    /// Everything the server has written to its log so far.
    public var log: String {
        (try? String(contentsOfFile: directory.appendingPathComponent("log").path, encoding: .utf8)) ?? ""
    }
    private var dataPath: String { directory.appendingPathComponent("data").path }

    /// Starts the server and waits until it accepts connections.
    public func start() throws {
        try run(
            "pg_ctl", "-D", dataPath, "-w", "-l", directory.appendingPathComponent("log").path,
            "-o",
            "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(directory.path) -c fsync=off",
            "start")
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the postmaster and every backend: a server frozen
    /// with its connections still open, as after a hung VM or a network partition.
    public func freeze(_ frozen: Bool) throws {
        let pidFile = try String(contentsOfFile: dataPath + "/postmaster.pid", encoding: .utf8)
        guard let postmaster = pidFile.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            throw TestSupportError("cannot read postmaster.pid")
        }
        let signal = frozen ? SIGSTOP : SIGCONT
        kill(postmaster, signal)
        _ = try spawnAndWait(
            ["/usr/bin/pkill", frozen ? "-STOP" : "-CONT", "-P", String(postmaster)],
            outputFile: directory.appendingPathComponent("pkill.out").path)
    }

    /// Stops the server at once (immediate mode) and starts it again.
    public func restart() throws {
        try run("pg_ctl", "-D", dataPath, "-w", "-m", "fast", "restart")
    }

    @discardableResult
    private func run(_ tool: String, _ arguments: String...) throws -> String {
        var command = [binaries.appendingPathComponent(tool).path] + arguments
        // PostgreSQL refuses to run as root.
        if getuid() == 0 { command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command }
        let outputFile = directory.appendingPathComponent("\(tool).out").path
        let (status, output) = try spawnAndWait(command, outputFile: outputFile)
        guard status == 0 else { throw TestSupportError("\(tool) failed: \(output)") }
        return output
    }

    /// The directory holding initdb, pg_ctl and postgres.
    public static func findBinaries() throws -> URL {
        let candidates = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in candidates.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        throw TestSupportError("no PostgreSQL server binaries in /usr/lib/postgresql (scripts/test.sh installs them)")
    }

    static func giveToServerUser(_ directory: URL) throws {
        guard getuid() == 0 else { return }
        guard let user = getpwnam("postgres") else { throw TestSupportError("no postgres user") }
        chown(directory.path, user.pointee.pw_uid, user.pointee.pw_gid)
    }
}

/// A test fixture that could not be set up.
public struct TestSupportError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// A TCP port on loopback that nothing listens on right now.
public func freeTCPPort() throws -> Int {
    let listener = try TCPListener()
    return listener.port
}

/// A socket that listens on loopback and never accepts or answers: the kernel completes the TCP
/// handshake, then nothing. What a hung server or a black-holing firewall looks like to libpq.
public final class TCPListener {
    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    private let descriptor: Int32

    /// Listens on a free port of 127.0.0.1.
    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && listen(descriptor, 16) == 0
                    && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else {
            close(descriptor)
            throw TestSupportError("cannot listen on loopback")
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}

/// Runs a command with its output in a file and waits for it with waitpid. Not Foundation's
/// Process: on Linux its waitUntilExit never returns when the command leaves a daemon behind
/// (`pg_ctl start`), because the daemon inherits what Process watches.
func spawnAndWait(_ command: [String], outputFile: String) throws -> (status: Int32, output: String) {
    let run = try spawnAndWait(command, environment: nil, outputFile: outputFile, errorFile: nil)
    return (run.status, run.output)
}

/// Runs `command` with `environment` (this process's when nil), its stdout in `outputFile` and
/// its stderr in `errorFile` (with stdout when nil), and waits for it with waitpid (see above).
public func spawnAndWait(
    _ command: [String], environment: [String: String]?, outputFile: String, errorFile: String?
) throws -> (status: Int32, output: String, errors: String) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if let errorFile {
        posix_spawn_file_actions_addopen(&actions, 2, errorFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    } else {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    var arguments: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    defer { for argument in arguments { free(argument) } }
    var variables: [UnsafeMutablePointer<CChar>?]? = environment.map {
        $0.map { strdup("\($0.key)=\($0.value)") } + [nil]
    }
    defer { for variable in variables ?? [] { free(variable) } }
    var pid: pid_t = 0
    let spawned: Int32
    if variables != nil {
        spawned = posix_spawn(&pid, command[0], &actions, nil, &arguments, &variables!)
    } else {
        spawned = posix_spawn(&pid, command[0], &actions, nil, &arguments, environ)
    }
    guard spawned == 0 else { throw TestSupportError("cannot run \(command[0]): error \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
    let errors = errorFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output, errors)
}
