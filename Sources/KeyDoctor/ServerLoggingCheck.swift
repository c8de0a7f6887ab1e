import KeyStore
import Postgres

// Server settings that would write statement text or bound parameters (keys) to the log: set
// for the whole server, for this database, or for a role (the service role, PostgREST's
// authenticator...) in any database.
extension Doctor {
    /// A setting that puts keys in the server log when it has some values, and the value that
    /// keeps them out.
    struct RiskySetting: Sendable {
        let name: String
        let safeValue: String
        /// What the setting does to keys when it is risky.
        let effect: String
        let isRisky: @Sendable (String) -> Bool
    }

    static let riskySettings: [RiskySetting] = [
        RiskySetting(
            name: "log_statement", safeValue: "'ddl'",
            effect: "writes every statement that adds or changes a key to the log, key included",
            isRisky: { $0 == "mod" || $0 == "all" }),
        RiskySetting(
            name: "log_min_duration_statement", safeValue: "-1",
            effect: "writes statements to the log with their text and parameters, keys included",
            isRisky: { (Int($0) ?? -1) >= 0 }),
        RiskySetting(
            name: "log_min_duration_sample", safeValue: "-1",
            effect: "writes a sample of statements to the log with their text and parameters, keys included",
            isRisky: { (Int($0) ?? -1) >= 0 }),
        RiskySetting(
            name: "log_transaction_sample_rate", safeValue: "0",
            effect: "writes every statement of a sample of transactions to the log, keys included",
            isRisky: { (Double($0) ?? 0) > 0 }),
        RiskySetting(
            name: "log_parameter_max_length_on_error", safeValue: "0",
            effect: "writes the bound parameters (keys) of every statement that fails to the log",
            isRisky: { $0 != "0" }),
        RiskySetting(
            name: "auto_explain.log_min_duration", safeValue: "-1",
            effect: "makes auto_explain write statements to the log with their text, keys included",
            isRisky: { (Int($0) ?? -1) >= 0 }),
    ]

    func serverLogging() throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        // The server's values (auto_explain's only when it is loaded). Those set for this database
        // or this role are left to the overrides below, which name the statement that resets them.
        let current = try rows(
            """
            SELECT name, setting AS value FROM pg_settings
            WHERE name = ANY(\(Self.riskySettings.map(\.name))::text[])
              AND source NOT IN ('database', 'user', 'database user')
            """, step: "reading the logging settings")
        let sampleRate = try rows(
            "SELECT current_setting('log_statement_sample_rate') AS value", step: "reading the logging settings"
        ).first?.decode("value", as: String.self)
        for row in current {
            let name: String = try row.decode("name")
            guard let value: String = try row.decodeIfPresent("value"),
                let setting = Self.riskySettings.first(where: { $0.name == name }), setting.isRisky(value)
            else { continue }
            // A sample of nothing logs nothing.
            if name == "log_min_duration_sample", (Double(sampleRate ?? "1") ?? 1) == 0 { continue }
            findings.append(
                DoctorFinding(
                    "server logging", .warn, "\(name) = \(value)", setting.effect,
                    fix: "ALTER SYSTEM SET \(name) = \(setting.safeValue); SELECT pg_reload_conf();"))
        }
        // Overrides for this database, or for a role, which the server's value does not show.
        for row in try rows(
            """
            SELECT coalesce(d.datname, '') AS database, coalesce(r.rolname, '') AS role,
                   split_part(c.setting, '=', 1) AS name, substr(c.setting, strpos(c.setting, '=') + 1) AS value
            FROM pg_db_role_setting AS s
            CROSS JOIN LATERAL unnest(s.setconfig) AS c(setting)
            LEFT JOIN pg_database AS d ON d.oid = s.setdatabase
            LEFT JOIN pg_roles AS r ON r.oid = s.setrole
            WHERE (s.setdatabase = 0 OR d.datname = current_database())
              AND split_part(c.setting, '=', 1) = ANY(\(Self.riskySettings.map(\.name))::text[])
            ORDER BY 1, 2, 3
            """, step: "reading the per-database and per-role settings")
        {
            let name: String = try row.decode("name")
            let value: String = try row.decode("value")
            guard let setting = Self.riskySettings.first(where: { $0.name == name }), setting.isRisky(value) else {
                continue
            }
            let database: String = try row.decode("database")
            let role: String = try row.decode("role")
            let (scope, fix) =
                switch (database.isEmpty, role.isEmpty) {
                case (false, true):
                    ("for database \(database)", "ALTER DATABASE \(quoteIdentifier(database)) RESET \(name);")
                case (true, false): ("for role \(role)", "ALTER ROLE \(quoteIdentifier(role)) RESET \(name);")
                default:
                    (
                        "for role \(role) in database \(database)",
                        "ALTER ROLE \(quoteIdentifier(role)) IN DATABASE \(quoteIdentifier(database)) RESET \(name);"
                    )
                }
            findings.append(
                DoctorFinding("server logging", .warn, "\(name) = \(value) \(scope)", setting.effect, fix: fix))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding(
                    "server logging", .ok, "logging settings",
                    "no setting writes statement text or parameters to the log (server, database and roles)"))
        }
        return findings
    }
}
