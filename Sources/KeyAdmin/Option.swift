/// Every option `keyadmin` knows, with the values it takes and the help line it shows.
enum Option: String, CaseIterable {
    // Commands: exactly one per invocation.
    case list = "--list"
    case addProvider = "--add-provider"
    case addKey = "--add-key"
    case addBulk = "--add-bulk"
    case updateKey = "--update-key"
    case deleteKey = "--delete-key"
    case deleteProvider = "--delete-provider"
    case migrate = "--migrate"
    case getKey = "--get-key"
    case randomKey = "--random-key"
    // Modifiers of one command.
    case provider = "--provider"
    case file = "--file"
    case dryRun = "--dry-run"
    case yes = "--yes"
    case reveal = "--reveal"
    // Shared.
    case json = "--json"
    case databaseURL = "--database-url"
    case lockTimeout = "--lock-timeout"
    case statementTimeout = "--statement-timeout"

    var isCommand: Bool {
        switch self {
        case .list, .addProvider, .addKey, .addBulk, .updateKey, .deleteKey, .deleteProvider, .migrate, .getKey, .randomKey: true
        default: false
        }
    }

    var valueNames: [String] {
        switch self {
        case .list, .migrate, .dryRun, .yes, .reveal, .json: []
        case .addProvider, .deleteProvider, .provider: ["NAME"]
        case .addBulk, .randomKey: ["PROVIDER"]
        case .addKey: ["PROVIDER", "KEY"]
        case .updateKey: ["PROVIDER", "NUM", "KEY"]
        case .deleteKey, .getKey: ["PROVIDER", "NUM"]
        case .file: ["PATH"]
        case .databaseURL: ["URL"]
        case .lockTimeout, .statementTimeout: ["SECONDS"]
        }
    }

    /// The command a modifier belongs to; `nil` for commands and shared options.
    var onlyWith: Option? {
        switch self {
        case .provider, .reveal: .list
        case .file: .addBulk
        case .dryRun: .migrate
        case .yes: .deleteProvider
        default: nil
        }
    }

    var usage: String { ([rawValue] + valueNames).joined(separator: " ") }

    var help: String {
        switch self {
        case .list: "every provider with its key count and its keys, masked"
        case .addProvider: "add a provider (names are lower-case a-z 0-9 . _ -)"
        case .addKey: "add one key; KEY - reads it from stdin (hidden on a terminal)"
        case .addBulk: "add many keys, one per line, from stdin or --file"
        case .updateKey: "replace key number NUM; KEY may be -"
        case .deleteKey: "delete key number NUM (numbers are never reused)"
        case .deleteProvider: "delete a provider and all its keys (asks; --yes without a terminal)"
        case .migrate: "apply the migrations this database has not had yet"
        case .getKey: "print key number NUM alone on its line"
        case .randomKey: "print a uniformly random key alone on its line"
        case .provider: "with --list: only this provider"
        case .file: "with --add-bulk: read the keys from this file"
        case .dryRun: "with --migrate: list what would be applied, change nothing"
        case .yes: "with --delete-provider: do not ask"
        case .reveal: "with --list: show whole keys"
        case .json: "print the result as JSON"
        case .databaseURL: "PostgreSQL connection string, URI or key=value"
        case .lockTimeout: "wait at most this long for another operator's lock (default 5)"
        case .statementTimeout: "let one statement run at most this long (default 60)"
        }
    }
}
