/// The options that are not commands: modifiers of some commands, and options every command takes.
enum Modifier: String, CaseIterable {
    case provider = "--provider"
    case reveal = "--reveal"
    case file = "--file"
    case number = "--number"
    case force = "--force"
    case dryRun = "--dry-run"
    case state = "--state"
    case summary = "--summary"
    case label = "--label"
    case expires = "--expires"
    case tier = "--tier"
    case weight = "--weight"
    case reason = "--reason"
    /// `--key NUM`: a key number (the key itself is a `ValueKind.key`).
    case keyNumber = "--key"
    case since = "--since"
    case limit = "--limit"
    case before = "--before"
    case strict = "--strict"
    case api = "--api"
    case revive = "--revive"
    case concurrency = "--concurrency"
    case timeout = "--timeout"
    case affinity = "--affinity"
    case account = "--account"
    case days = "--days"
    case requestsPerDay = "--requests-per-day"
    case tokensPerDay = "--tokens-per-day"
    // Shared by every command.
    case yes = "--yes"
    case json = "--json"
    case databaseURL = "--database-url"
    case lockTimeout = "--lock-timeout"
    case statementTimeout = "--statement-timeout"
    case actor = "--actor"

    var valueName: String? {
        switch self {
        case .reveal, .force, .dryRun, .yes, .json, .strict, .summary, .revive: nil
        case .api: "STYLE"
        case .concurrency: "N"
        case .timeout: "SECONDS"
        case .provider, .actor: "NAME"
        case .state: "STATE"
        case .label, .reason, .affinity: "TEXT"
        case .account: "NAME"
        case .requestsPerDay, .tokensPerDay, .days: "N"
        case .expires, .since, .before: "WHEN"
        case .keyNumber: "NUM"
        case .tier: "TIER"
        case .weight: "WEIGHT"
        case .limit: "N"
        case .file: "PATH"
        case .number: "NUM"
        case .databaseURL: "URL"
        case .lockTimeout, .statementTimeout: "SECONDS"
        }
    }

    /// The commands this option goes with; every command when `nil`.
    var commands: [CommandName]? {
        switch self {
        case .provider: [.list, .history, .usage]
        case .days: [.usage]
        case .reveal, .state, .summary: [.list]
        case .keyNumber: [.history, .check, .usage]
        case .since, .limit: [.history]
        case .api: [.setEndpoint]
        case .revive, .concurrency, .timeout: [.check]
        case .affinity: [.randomKey]
        case .before: [.pruneHistory, .pruneUsage]
        case .strict: [.doctor]
        case .label, .expires, .tier, .weight: [.addKey, .addBulk]
        case .account: [.addKey, .addBulk, .usage]
        case .requestsPerDay, .tokensPerDay: [.setQuota]
        case .reason: [.disableKey]
        case .file: [.addBulk]
        case .number: [.addKey]
        case .force: [.addProvider, .addKey, .addBulk, .updateKey, .setExpiry, .check]
        case .dryRun: [.migrate]
        case .yes, .json, .databaseURL, .lockTimeout, .statementTimeout, .actor: nil
        }
    }

    var usage: String { valueName.map { "\(rawValue) \($0)" } ?? rawValue }

    var help: String {
        switch self {
        case .provider: "with --list, --history, --usage: only this provider"
        case .days: "with --usage: the last N days (default 14)"
        case .reveal: "with --list: show whole keys"
        case .file: "with --add-bulk: read the keys from this file (- is stdin)"
        case .number: "with --add-key: give the key this free number (put a deleted key back)"
        case .force:
            "accept an odd key (short, quoted, NAME=value), a name shaped like a key or id, a past expiry; "
                + "--check: record refusals even when every key is refused"
        case .dryRun: "with --migrate: list what would be applied, change nothing"
        case .state: "with --list: only keys available, cooling, exhausted, disabled or expired"
        case .summary: "with --list: one line per provider with its counts, no keys"
        case .label: "with --add-key, --add-bulk: a short note for the keys (never a secret)"
        case .expires: "with --add-key, --add-bulk: when the keys expire (ISO 8601 date or date-time)"
        case .reason: "with --disable-key: why (shown by --list)"
        case .tier: "with --add-key, --add-bulk: the keys' tier, 1 (default) to 9; 2 serves when 1 has none"
        case .weight: "with --add-key, --add-bulk: the keys' weight in their tier, 1 (default) to 1000"
        case .account:
            "with --add-key, --add-bulk: the provider's project or organisation the keys share limits with; "
                + "--usage: only its keys"
        case .requestsPerDay: "with --set-quota: requests (all but 429s) each account may make a day, or none"
        case .tokensPerDay: "with --set-quota: tokens each account may use a day, or none"
        case .keyNumber: "with --history, --check, --usage: only this key number"
        case .api: "with --set-endpoint: how the API takes a key, openai (default), anthropic or google"
        case .revive: "with --check: also ask about keys disabled after a 401/402/403; enable those that answer"
        case .concurrency: "with --check: requests at once, 1-256 (default 16)"
        case .timeout: "with --check: the longest one request may take (default 10)"
        case .affinity: "with --random-key: the same key for the same TEXT (a conversation id) while it serves"
        case .since: "with --history: only events from this time on"
        case .limit: "with --history: at most this many events (default 50)"
        case .before: "with --prune-history, --prune-usage: delete what is older than this time"
        case .strict: "with --doctor: warnings fail too (exit 1)"
        case .actor: "who you are, for the record (default: KEYADMIN_ACTOR, else user@host)"
        case .yes: "do not ask for confirmation (deletes, pruning)"
        case .json: "print the result as one JSON document"
        case .databaseURL: "PostgreSQL connection string, URI or key=value"
        case .lockTimeout: "wait at most this long for another operator's lock (default 5)"
        case .statementTimeout: "let one statement run at most this long (default 60)"
        }
    }
}

/// What a value stands for, as usage lines name it. `CommandValues` checks each value as what
/// its kind stands for.
enum ValueKind {
    case provider, name, number, key, shell, text, when, tier, weight, url, account, zone
    /// A provider that may be left out: every provider then.
    case optionalProvider

    var name: String {
        switch self {
        case .text: "TEXT"
        case .tier: "TIER"
        case .weight: "WEIGHT"
        case .when: "WHEN"
        case .provider: "PROVIDER"
        case .name: "NAME"
        case .number: "NUM"
        case .key: "KEY"
        case .shell: "SHELL"
        case .url: "URL"
        case .account: "ACCOUNT"
        case .zone: "ZONE"
        case .optionalProvider: "[PROVIDER]"
        }
    }
}
