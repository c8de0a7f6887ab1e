import CLibPQ

/// How to reach the database and how long to wait for it.
///
/// The connection string is handed to libpq unchanged, in either of its forms (URI or
/// key=value); an empty string means libpq's own defaults (PGHOST and friends, `~/.pgpass`,
/// service files), exactly as psql would use them.
public struct ConnectionSettings: Sendable {
    /// A libpq connection string, URI or key=value; empty means libpq's PG* variables and defaults.
    public var connectionString: String
    /// Used when neither the connection string nor PGCONNECT_TIMEOUT sets one.
    public var connectTimeout: Duration
    /// How long one statement may run before the client cancels it and gives up.
    public var statementTimeout: Duration
    /// How long a transaction may wait for a lock another operator holds.
    public var lockTimeout: Duration
    /// `application_name` unless the connection string sets one: what the server's views show.
    public var applicationName: String
    /// Settings made for every transaction, and only for it (`set_config(name, value, true)`),
    /// such as who is acting, for triggers to read.
    public var transactionSettings: [(name: String, value: String)] = []
    /// Which user or database names are credentials in the wrong place (an API key given as the
    /// database name): masked in the target and in every message. The Postgres layer does not
    /// know what a key looks like; the key store says.
    public var concealsName: @Sendable (String) -> Bool = { _ in false }

    /// Settings with time limits: the connection's, each statement's, and each lock wait's.
    public init(
        connectionString: String = "",
        connectTimeout: Duration = .seconds(10),
        statementTimeout: Duration = .seconds(60),
        lockTimeout: Duration = .seconds(5),
        applicationName: String = "keyadmin"
    ) {
        self.connectionString = connectionString
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.lockTimeout = lockTimeout
        self.applicationName = applicationName
    }

    /// What removes this connection's password (and PGPASSWORD) from any message.
    public var redactor: SecretRedactor {
        SecretRedactor(connectionString: connectionString, environmentPassword: environment("PGPASSWORD"))
    }

    /// The parameters passed to `PQconnectdbParams`, defaults first so that the connection
    /// string (expanded in place of `dbname`) overrides them.
    func libpqParameters() throws -> [(keyword: String, value: String)] {
        let fields = try parsedFields()
        var parameters: [(keyword: String, value: String)] = [("fallback_application_name", applicationName)]
        if fields["connect_timeout"] == nil, environment("PGCONNECT_TIMEOUT") == nil {
            parameters.append(("connect_timeout", String(max(1, connectTimeout.wholeMilliseconds / 1000))))
        }
        // Unacknowledged data gives up after 30 s, so a dropped network or a frozen server ends
        // a long send (a bulk load) with an error instead of waiting out TCP's retransmissions
        // (about 15 minutes); keepalives notice a dead peer while we wait for an answer.
        if fields["tcp_user_timeout"] == nil, environment("PGTCPUSERTIMEOUT") == nil {
            parameters.append(("tcp_user_timeout", "30000"))
        }
        if fields["keepalives_idle"] == nil {
            parameters.append(("keepalives_idle", "30"))
        }
        if requiresTLSByDefault(fields) {
            parameters.append(("sslmode", "require"))
        }
        if !connectionString.isEmpty {
            parameters.append(("dbname", connectionString))
        }
        return parameters
    }

    /// Supabase accepts only TLS, and a password sent in clear over a network is a password
    /// given away: when the server is not on this machine and nobody chose an sslmode, require
    /// TLS instead of libpq's "prefer" (which silently falls back to plain text).
    func requiresTLSByDefault(_ fields: [String: String]) -> Bool {
        if fields["sslmode"] != nil || environment("PGSSLMODE") != nil { return false }
        // A service file may choose its own sslmode; respect it as psql would.
        if fields["service"] != nil || environment("PGSERVICE") != nil { return false }
        let addresses = fields["hostaddr"] ?? environment("PGHOSTADDR")
        let hosts = addresses ?? fields["host"] ?? environment("PGHOST") ?? ""
        return hosts.split(separator: ",", omittingEmptySubsequences: false).contains {
            !Self.isLocal(host: String($0))
        }
    }

    /// The same server and credentials with another database, as a key=value string (for tools
    /// that create databases, such as the test harness).
    public func connectionString(withDatabase database: String) throws -> String {
        var fields = try parsedFields()
        fields["dbname"] = database
        return fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quotedValue($0.value))" }.joined(
            separator: " ")
    }

    /// A key=value value in single quotes, with `\` and `'` escaped as libpq expects.
    static func quotedValue(_ value: String) -> String {
        var quoted = "'"
        for character in value {
            if character == "\\" || character == "'" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "'"
    }

    static func isLocal(host: String) -> Bool {
        let host = host.trimmingWhitespace()
        if host.isEmpty || host.hasPrefix("/") || host.hasPrefix("@") { return true }  // Unix-domain sockets
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// The connection string's fields as libpq reads them (only those it sets), or an error that
    /// never quotes a password.
    public func parsedFields() throws -> [String: String] {
        guard !connectionString.isEmpty else { return [:] }
        if connectionString.hasPrefix("http://") || connectionString.hasPrefix("https://") {
            throw PGError(
                .invalidConnectionString, step: "reading the connection string",
                message: "an https:// address is a project's web URL, not a PostgreSQL connection string",
                hint: "use the postgresql:// string that Supabase shows under Connect (or Project Settings > Database)")
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            var message = "libpq could not parse it"
            if let errorMessage {
                message = Self.elidingQuotedInput(redactor.redact(String(cString: errorMessage).joinedOnOneLine()))
                PQfreemem(errorMessage)
            }
            throw PGError(
                .invalidConnectionString, step: "reading the connection string", message: message,
                hint:
                    "write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE or as host=... dbname=... key=value pairs"
            )
        }
        return takingConninfoFields(options)
    }
}

extension ConnectionSettings {
    /// libpq's parse errors quote the part of the string they stumbled on (`missing "=" after
    /// "sk-..."`): when a key was pasted where the connection string belongs, that part is the
    /// key. A quoted part stays only when it is punctuation or has the shape of a libpq keyword
    /// (a short lower-case word); anything else becomes "…".
    static func elidingQuotedInput(_ message: String) -> String {
        let parts = message.split(separator: "\"", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return message }
        var result = ""
        for (index, part) in parts.enumerated() {
            if index > 0 { result += "\"" }
            let quoted = index % 2 == 1 && index < parts.count - 1
            let keywordShaped =
                part.count <= 20
                && part.unicodeScalars.allSatisfy {
                    ("a"..."z").contains($0) || $0 == "_" || (part.count == 1 && !("0"..."9").contains($0))
                }
            result += quoted && !keywordShaped ? "…" : String(part)
        }
        return result
    }
}

/// The keywords that have values in a libpq option array, which this frees.
func takingConninfoFields(_ options: UnsafeMutablePointer<PQconninfoOption>) -> [String: String] {
    defer { PQconninfoFree(options) }
    var fields: [String: String] = [:]
    var option = options
    while let keyword = option.pointee.keyword {
        if let value = option.pointee.val { fields[String(cString: keyword)] = String(cString: value) }
        option += 1
    }
    return fields
}
