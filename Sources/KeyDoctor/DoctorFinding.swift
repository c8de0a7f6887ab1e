import KeyStore

/// One finding of the doctor: a check, its verdict, the object it is about, and the fix.
public struct DoctorFinding: Sendable, Equatable {
    /// The verdict: fine, worth a look, or a broken promise.
    public enum Status: String, Sendable { case ok, warn, fail }

    /// The family of the check, such as "privileges".
    public let check: String
    /// The verdict.
    public let status: Status
    /// What it is about: a table, a function, a provider, the connection.
    public let object: String
    /// What was found, in one line.
    public let message: String
    /// How to mend it, when it needs mending.
    public let fix: DoctorFix?

    init(_ check: String, _ status: Status, _ object: String, _ message: String, fix: DoctorFix? = nil) {
        self.check = check
        self.status = status
        self.object = object
        self.message = message
        self.fix = fix
    }

    /// A finding whose fix is an SQL statement.
    init(_ check: String, _ status: Status, _ object: String, _ message: String, fix sql: String) {
        self.init(check, status, object, message, fix: .sql(sql))
    }
}

/// How to mend a finding. Statements are the doctor's to write; the commands of a tool that
/// shows the report are that tool's, so they are named here by what they do.
public enum DoctorFix: Sendable, Equatable {
    /// An exact SQL statement, for the tables' owner or a superuser.
    case sql(String)
    /// Words, where no one statement mends it.
    case advice(String)
    /// Apply the migrations this version ships.
    case applyMigrations
    /// A newer version applied migrations this one does not know.
    case upgradeTool
    /// Give a provider its first keys.
    case addKeys(provider: String)
    /// Look at a provider's keys, or at those in one state.
    case inspectKeys(provider: String, state: KeyState?)
    /// Replace the keys that expire soon, or move their expiry.
    case replaceExpiringKeys(provider: String)
    /// Set a provider's endpoint again (or go back to its built-in one), after seeing who set it.
    case reviewEndpoint(provider: String)
}
