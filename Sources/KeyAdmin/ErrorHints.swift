import KeyStore

extension KeyStoreError {
    /// What to do next, in this tool's words: the command to run, or the error's own advice.
    var hint: String? {
        switch self {
        case .invalidBulkInput(_, _, let unusualShape):
            unusualShape
                ? "fix those lines, or add --force to store such keys as they are"
                : "fix those lines and run the command again"
        case .unusualKey(_, let advice): (advice.map { "\($0), or " } ?? "") + "add --force to store it as it is"
        case .unreadableInput(_, let file):
            file == nil ? "give the keys with --file PATH" : "check the path given to --file"
        case .noDatabaseConfigured:
            "set DATABASE_URL to a postgresql:// connection string, give --database-url, or run scripts/setup.sh for a local database"
        case .providerNotFound: "see keyadmin --list"
        case .keyNotFound(let name, _): "see keyadmin --list --provider \(name)"
        case .providerExists: "add keys to it with keyadmin --add-key or --add-bulk"
        case .keyNumberTaken(let name, _):
            "choose a free number, see keyadmin --list --provider \(name); or leave out --number"
        case .keyChanged(let name, _): "see keyadmin --list --provider \(name), then try again"
        case .noKeys(let name): "add one with keyadmin --add-key \(name) -"
        case .noUsableKey(let name, _, _): "see keyadmin --list --provider \(name)"
        case .keyUnusable(let name, let number, let key):
            key.state == .expired
                ? "keyadmin --set-expiry \(name) \(number) never, or --update-key \(name) \(number) - with a new key"
                : "keyadmin --enable-key \(name) \(number)"
        case .schemaMissing: "run keyadmin --migrate first"
        case .unknownMigrationsApplied: "upgrade keyadmin"
        case .outcomeUnknown: "check with keyadmin --list before trying again"
        default: advice
        }
    }

    /// Whether the error is about the database (and its line names which one): not so for a
    /// failure of this machine's HTTP client.
    var concernsTheDatabase: Bool {
        if case .transport = self { return false }
        return true
    }

    /// The message and its hint as one line: "no provider named "x" (see keyadmin --list)".
    var oneLine: String {
        hint.map { "\(message) (\($0))" } ?? message
    }
}
