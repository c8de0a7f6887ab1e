import KeyStore
import Postgres

// Server settings that would write statement text or parameters (keys) to the log.
extension Doctor {
    func serverLogging() throws -> [DoctorFinding] {
        let row = try rows(
            """
            SELECT current_setting('log_statement') AS log_statement,
                   current_setting('log_min_duration_statement') AS min_duration,
                   current_setting('log_parameter_max_length') AS parameter_length
            """, step: "reading the logging settings"
        ).first
        guard let row else { return [] }
        var findings: [DoctorFinding] = []
        let statement: String = try row.decode("log_statement")
        if statement == "mod" || statement == "all" {
            findings.append(
                DoctorFinding(
                    "server logging", .warn, "log_statement = \(statement)",
                    "every statement that adds or changes a key is written to the server log, key included",
                    fix: "ALTER SYSTEM SET log_statement = 'ddl'; SELECT pg_reload_conf();"))
        }
        let minDuration: String = try row.decode("min_duration")
        let parameters: String = try row.decode("parameter_length")
        if minDuration == "0", parameters != "0" {
            findings.append(
                DoctorFinding(
                    "server logging", .warn, "log_min_duration_statement = 0",
                    "every statement is logged with its parameters, keys included",
                    fix: "ALTER SYSTEM SET log_parameter_max_length = 0; SELECT pg_reload_conf();"))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding("server logging", .ok, "log_statement = \(statement)", "keys do not reach the server log")
            )
        }
        return findings
    }
}
