/// psql, run as a DBA would: the file from migrations/, ON_ERROR_STOP, one transaction.
public func runPsql(file: String, on database: TestDatabase) throws -> (status: Int32, output: String) {
    try runTool(["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", file, database.connectionString])
}

/// One statement through psql, with verbose errors (what a DBA sees, DETAIL included).
public func runPsqlCommand(_ sql: String, on database: TestDatabase) throws -> String {
    try runTool(["psql", "-X", "-v", "VERBOSITY=verbose", "-c", sql, database.connectionString]).output
}

/// The SHA-256 of a file, in hex, as sha256sum prints it.
public func sha256Hex(ofFile path: String) throws -> String {
    String(try runTool(["sha256sum", path]).output.prefix(64))
}
