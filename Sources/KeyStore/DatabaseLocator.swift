/// Where the tool finds its database, first match wins:
/// `--database-url`, then `WORKER_1_DATABASE_URL`, then `DATABASE_URL` (the environment first,
/// then `.env` in the current directory), then libpq's own defaults (PGHOST and friends,
/// `~/.pgpass`, service files), as psql would use them.
public struct DatabaseLocator: Sendable {
    /// The variables read for a connection string, in the order they win.
    public static let variableNames = ["WORKER_1_DATABASE_URL", "DATABASE_URL"]

    /// A connection string and where it came from.
    public struct Located: Sendable, Equatable {
        /// Empty means libpq's defaults.
        public let connectionString: String
        /// For messages: "--database-url", "DATABASE_URL from .env", "libpq defaults"...
        public let source: String
        /// What the operator should know about the choice (a variable that hides another, a `.env`
        /// that other users may read).
        public let warnings: [String]
        /// Nothing at all says where the database is: no option, variable, .env, PG* variable,
        /// ~/.pgpass or service file. libpq then tries its built-in local socket.
        public var isUnconfigured = false
    }

    /// A variable of the process environment; tests pass their own.
    let environment: @Sendable (String) -> String?
    let dotEnvPath: String

    /// Reads the process environment, variable by variable, only as far as it is needed.
    public init(dotEnvPath: String = ".env") {
        self.init(environment: { name in processEnvironment(name) }, dotEnvPath: dotEnvPath)
    }

    /// Reads the given variables instead of the process environment (tests, embedding programs).
    public init(environment: [String: String], dotEnvPath: String = ".env") {
        self.init(environment: { environment[$0] }, dotEnvPath: dotEnvPath)
    }

    init(environment: @escaping @Sendable (String) -> String?, dotEnvPath: String) {
        self.environment = environment
        self.dotEnvPath = dotEnvPath
    }

    /// Chooses the database: `commandLineURL` if given, else the variables in the environment, else
    /// in `.env`, else libpq's defaults (an empty connection string). Refuses a project's https
    /// address given where a PostgreSQL connection string belongs.
    public func locate(commandLineURL: String?) throws(KeyStoreError) -> Located {
        if let commandLineURL {
            return Located(
                connectionString: try Self.checked(commandLineURL, source: "--database-url"), source: "--database-url",
                warnings: [])
        }
        var warnings: [String] = []
        let loaded = DotEnv.load(path: dotEnvPath)
        if let loaded, loaded.readableByOthers {
            warnings.append(
                "\(dotEnvPath) can be read by other users of this machine and may hold a password; run: chmod 600 \(dotEnvPath)"
            )
        }
        for name in Self.variableNames {
            if let value = environment(name), !value.isEmpty {
                let source = "\(name) from the environment"
                // A variable left in the shell from other work silently beating the project's
                // .env is how commands reach the wrong database: say so.
                if let loaded,
                    let fileName = Self.variableNames.first(where: { loaded.dotEnv.values[$0]?.isEmpty == false }),
                    loaded.dotEnv.values[fileName]?.trimmingASCIIWhitespace() != value.trimmingASCIIWhitespace()
                {
                    warnings.append(
                        "using \(source), not \(fileName) from \(dotEnvPath) (unset \(name) to use the file)")
                }
                // Both variables in the environment, naming different databases: the second is
                // ignored, and whoever set it may think otherwise.
                for other in Self.variableNames.drop(while: { $0 != name }).dropFirst() {
                    if let otherValue = environment(other), !otherValue.isEmpty,
                        otherValue.trimmingASCIIWhitespace() != value.trimmingASCIIWhitespace()
                    {
                        warnings.append(
                            "using \(name), not \(other), which is also set in the environment and names another "
                                + "database (unset one of them)")
                    }
                }
                return Located(
                    connectionString: try Self.checked(value, source: source), source: source, warnings: warnings)
            }
        }
        if let (dotEnv, _) = loaded {
            for name in Self.variableNames {
                if let value = dotEnv.values[name], !value.isEmpty {
                    let source = "\(name) from \(dotEnvPath)"
                    for other in Self.variableNames.drop(while: { $0 != name }).dropFirst() {
                        if let otherValue = dotEnv.values[other], !otherValue.isEmpty,
                            otherValue.trimmingASCIIWhitespace() != value.trimmingASCIIWhitespace()
                        {
                            warnings.append(
                                "using \(name), not \(other), which \(dotEnvPath) also sets to another database "
                                    + "(remove one of them)")
                        }
                    }
                    return Located(
                        connectionString: try Self.checked(value, source: source), source: source, warnings: warnings)
                }
            }
        }
        let projectURL = environment("WORKER_1_URL") ?? loaded?.dotEnv.values["WORKER_1_URL"]
        let libpqVariables = ["PGHOST", "PGHOSTADDR", "PGSERVICE", "PGDATABASE", "PGPORT", "PGUSER", "PGPASSWORD"]
        let hasLibpqSettings = libpqVariables.contains { environment($0) != nil }
        if let projectURL, !projectURL.isEmpty, !hasLibpqSettings {
            throw .notConfigured(
                "WORKER_1_URL is the project's https address; keyadmin needs a PostgreSQL connection string",
                hint:
                    "set WORKER_1_DATABASE_URL to the postgresql:// string from Supabase's Connect button (or Project Settings > Database)"
            )
        }
        // A variable set to nothing (DATABASE_URL= in .env, often a template not filled in) would
        // otherwise fall back to libpq's defaults without a word.
        let emptyInEnvironment = Self.variableNames.filter { environment($0)?.isEmpty == true }
        let emptyInDotEnv = Self.variableNames.filter { loaded?.dotEnv.values[$0]?.isEmpty == true }
        for name in emptyInEnvironment {
            warnings.append("\(name) is set but empty; using libpq's defaults (PGHOST and the rest)")
        }
        for name in emptyInDotEnv where !emptyInEnvironment.contains(name) {
            warnings.append("\(name) is empty in \(dotEnvPath); using libpq's defaults (PGHOST and the rest)")
        }
        var located = Located(connectionString: "", source: "libpq defaults", warnings: warnings)
        located.isUnconfigured = !hasLibpqSettings && !hasLibpqFiles
        return located
    }

    /// ~/.pgpass or ~/.pg_service.conf (or the files PGPASSFILE and PGSERVICEFILE name).
    private var hasLibpqFiles: Bool {
        if environment("PGPASSFILE") != nil || environment("PGSERVICEFILE") != nil { return true }
        guard let home = environment("HOME") else { return false }
        return [".pgpass", ".pg_service.conf"].contains { fileExists("\(home)/\($0)") }
    }

    private static func checked(_ value: String, source: String) throws(KeyStoreError) -> String {
        let trimmed = value.trimmingASCIIWhitespace()
        if trimmed.hasPrefix("http://") || trimmed.hasPrefix("https://") {
            throw .notConfigured(
                "\(source) is an https address, not a PostgreSQL connection string",
                hint: "use the postgresql:// string from Supabase's Connect button (or Project Settings > Database)")
        }
        return trimmed
    }
}
