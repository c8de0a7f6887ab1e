import KeyStore

/// Every command: its values, the options that go with it, its help, and how it is built from
/// them, in one entry each. The switches are exhaustive, so a new command does not compile
/// until every one of these is written for it.
enum CommandName: String, CaseIterable {
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
    case disableKey = "--disable-key"
    case enableKey = "--enable-key"
    case setLabel = "--set-label"
    case setExpiry = "--set-expiry"
    case history = "--history"
    case pruneHistory = "--prune-history"
    case doctor = "--doctor"
    case completions = "--completions"

    /// Builds the command from exactly `values.count` values, taken in order.
    typealias Builder = (inout CommandValues, ParsedModifiers) throws(UsageError) -> Command

    struct Entry {
        let values: [ValueKind]
        let help: String
        let build: Builder
    }

    var entry: Entry {
        switch self {
        case .list:
            Entry(values: [], help: "every provider with its key count and its keys, masked") {
                _, modifiers throws(UsageError) in
                .list(provider: try modifiers.provider(), reveal: modifiers.has(.reveal), state: try modifiers.state())
            }
        case .addProvider:
            Entry(values: [.name], help: "add a provider (a-z 0-9 . _ -, starting with a letter or digit)") {
                values, _ throws(UsageError) in
                .addProvider(try values.provider())
            }
        case .addKey:
            Entry(values: [.provider, .key], help: "add one key; KEY - reads it from stdin (hidden on a terminal)") {
                values, modifiers throws(UsageError) in
                let force = modifiers.has(.force)
                return .addKey(
                    try values.provider(), try values.key(force: force), number: try modifiers.number(), force: force,
                    options: try modifiers.newKeyOptions())
            }
        case .addBulk:
            Entry(values: [.provider], help: "add many keys, one per line, from stdin or --file") {
                values, modifiers throws(UsageError) in
                .addBulk(
                    try values.provider(), from: modifiers.bulkSource(), force: modifiers.has(.force),
                    options: try modifiers.newKeyOptions())
            }
        case .updateKey:
            Entry(values: [.provider, .number, .key], help: "replace key number NUM; KEY may be -") {
                values, modifiers throws(UsageError) in
                let force = modifiers.has(.force)
                return .updateKey(
                    try values.provider(), number: try values.number(), try values.key(force: force), force: force)
            }
        case .deleteKey:
            Entry(values: [.provider, .number], help: "delete key number NUM, showing it masked (asks on a terminal)") {
                values, _ throws(UsageError) in
                .deleteKey(try values.provider(), number: try values.number())
            }
        case .deleteProvider:
            Entry(values: [.name], help: "delete a provider and all its keys (asks; --yes without a terminal)") {
                values, _ throws(UsageError) in
                .deleteProvider(try values.provider())
            }
        case .migrate:
            Entry(values: [], help: "apply the migrations this database has not had yet") {
                _, modifiers throws(UsageError) in
                .migrate(dryRun: modifiers.has(.dryRun))
            }
        case .getKey:
            Entry(values: [.provider, .number], help: "print key number NUM alone on its line") {
                values, _ throws(UsageError) in
                .getKey(try values.provider(), number: try values.number())
            }
        case .randomKey:
            Entry(values: [.provider], help: "print a uniformly random key alone on its line") {
                values, _ throws(UsageError) in
                .randomKey(try values.provider())
            }
        case .disableKey:
            Entry(values: [.provider, .number], help: "disable key NUM (kept, never drawn) until --enable-key") {
                values, modifiers throws(UsageError) in
                .disableKey(try values.provider(), number: try values.number(), reason: try modifiers.reason())
            }
        case .enableKey:
            Entry(values: [.provider, .number], help: "enable key NUM again, clearing its cooldown and failures") {
                values, _ throws(UsageError) in
                .enableKey(try values.provider(), number: try values.number())
            }
        case .setLabel:
            Entry(values: [.provider, .number, .text], help: "set the label of key NUM (\"\" clears it)") {
                values, _ throws(UsageError) in
                .setLabel(try values.provider(), number: try values.number(), try values.label())
            }
        case .setExpiry:
            Entry(
                values: [.provider, .number, .when], help: "set when key NUM expires: 2026-12-31, a date-time, or never"
            ) {
                values, _ throws(UsageError) in
                .setExpiry(try values.provider(), number: try values.number(), try values.expiry())
            }
        case .history:
            Entry(values: [], help: "every change to the keys, newest first: when, who, what (keys as fingerprints)") {
                _, modifiers throws(UsageError) in
                .history(try modifiers.historyFilter())
            }
        case .pruneHistory:
            Entry(values: [], help: "delete the history before --before WHEN (the trail's owner only), recording it") {
                _, modifiers throws(UsageError) in
                .pruneHistory(before: try modifiers.time(.before, required: true) ?? "")
            }
        case .doctor:
            Entry(values: [], help: "check that the keys are safe and the pools healthy: ok, warn or FAIL per check") {
                _, modifiers throws(UsageError) in
                .doctor(strict: modifiers.has(.strict))
            }
        case .completions:
            Entry(values: [.shell], help: "print a completion script for bash, zsh or fish") {
                values, _ throws(UsageError) in
                .completions(try values.shell())
            }
        }
    }

    var modifiers: [Modifier] { Modifier.allCases.filter { $0.commands?.contains(self) ?? false } }

    /// Options this command cannot do without.
    var requiredModifiers: [Modifier] { self == .pruneHistory ? [.before] : [] }

    /// "--add-key PROVIDER KEY [--number NUM] [--force]"
    var usage: String {
        let options = modifiers.map { requiredModifiers.contains($0) ? $0.usage : "[\($0.usage)]" }
        return ([rawValue] + entry.values.map(\.name) + options).joined(separator: " ")
    }
}

/// What one run of `keyadmin` does, checked and typed.
enum Command: Equatable {
    case list(provider: ProviderName?, reveal: Bool, state: KeyState?)
    case addProvider(ProviderName)
    case addKey(ProviderName, KeyInput, number: Int?, force: Bool, options: NewKeyOptions)
    case addBulk(ProviderName, from: BulkSource, force: Bool, options: NewKeyOptions)
    case updateKey(ProviderName, number: Int, KeyInput, force: Bool)
    case deleteKey(ProviderName, number: Int)
    case deleteProvider(ProviderName)
    case migrate(dryRun: Bool)
    case getKey(ProviderName, number: Int)
    case randomKey(ProviderName)
    case disableKey(ProviderName, number: Int, reason: OperatorText?)
    case enableKey(ProviderName, number: Int)
    case setLabel(ProviderName, number: Int, OperatorText)
    case setExpiry(ProviderName, number: Int, Expiry)
    case history(HistoryFilter)
    case pruneHistory(before: String)
    case doctor(strict: Bool)
    case completions(Shell)
}

extension Command {
    /// Whether the command changes data. Only those name an actor for the audit trail, so a
    /// read (a backend's --get-key) does not look up the user and host it would not use.
    var writes: Bool {
        switch self {
        case .list, .getKey, .randomKey, .history, .doctor, .completions:
            false
        case .addProvider, .addKey, .addBulk, .updateKey, .deleteKey, .deleteProvider, .migrate, .disableKey,
            .enableKey, .setLabel, .setExpiry, .pruneHistory:
            true
        }
    }
}

enum BulkSource: Equatable {
    case standardInput
    case file(String)
}

enum Shell: String, CaseIterable {
    case bash, zsh, fish
}

/// A KEY argument: the key itself (checked while parsing, before any I/O), or `-` for "read it
/// from stdin".
enum KeyInput: Equatable {
    case argument(APIKey)
    case standardInput
}

/// A command's values, handed out in order and checked as what they stand for. No message
/// quotes a value that failed its check: it may be a key typed in the wrong place.
struct CommandValues {
    let command: CommandName
    var remaining: ArraySlice<String>

    private mutating func next() -> String { remaining.popFirst() ?? "" }

    mutating func provider() throws(UsageError) -> ProviderName {
        do { return try ProviderName(validating: next()) } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
    }

    mutating func number() throws(UsageError) -> Int {
        try Self.keyNumber(next(), usage: command.usage)
    }

    mutating func key(force: Bool) throws(UsageError) -> KeyInput {
        let text = next()
        if text == "-" { return .standardInput }
        do { return .argument(try APIKey(validating: text, force: force)) } catch { throw UsageError(error.oneLine) }
    }

    mutating func label() throws(UsageError) -> OperatorText {
        do { return try OperatorText.label(next()) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    mutating func expiry() throws(UsageError) -> Expiry {
        do { return try Expiry(parsing: next()) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    mutating func shell() throws(UsageError) -> Shell {
        let text = next()
        guard let shell = Shell(rawValue: text) else {
            throw UsageError("--completions takes bash, zsh or fish", usage: command.usage)
        }
        return shell
    }

    /// A key number: 1 to 2147483647 (PostgreSQL's integer), written `3` or `#3` as lists show it.
    static func keyNumber(_ text: String, usage: String) throws(UsageError) -> Int {
        let digits = text.hasPrefix("#") ? String(text.dropFirst()) : text
        guard let number = Int32(digits, radix: 10), number > 0 else {
            if KeyShape.looksLikeKey(text) {
                throw UsageError(KeyShape.misplacedKeyError(expected: "a key number").oneLine, usage: usage)
            }
            throw UsageError("a key number is a whole number from 1 to 2147483647, such as 3", usage: usage)
        }
        return Int(number)
    }
}

/// The options given besides the command, with their values (checked when asked for).
struct ParsedModifiers {
    let command: CommandName
    var values: [Modifier: String] = [:]

    func has(_ modifier: Modifier) -> Bool { values[modifier] != nil }

    func provider() throws(UsageError) -> ProviderName? {
        guard let text = values[.provider] else { return nil }
        do { return try ProviderName(validating: text) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    func number() throws(UsageError) -> Int? {
        guard let text = values[.number] else { return nil }
        return try CommandValues.keyNumber(text, usage: command.usage)
    }

    func state() throws(UsageError) -> KeyState? {
        guard let text = values[.state] else { return nil }
        guard let state = KeyState(filter: text) else {
            throw UsageError("--state takes available, cooling, disabled or expired", usage: command.usage)
        }
        return state
    }

    func reason() throws(UsageError) -> OperatorText? {
        guard let text = values[.reason], !text.trimmingASCIIWhitespace().isEmpty else { return nil }
        do { return try OperatorText.reason(text) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    func actor() throws(UsageError) -> OperatorText? {
        guard let text = values[.actor] else { return nil }
        do { return try OperatorText.actor(text) } catch { throw UsageError(error.oneLine) }
    }

    /// A time option (`--since`, `--before`), normalised; `nil` when not given and not required.
    func time(_ modifier: Modifier, required: Bool = false) throws(UsageError) -> String? {
        guard let text = values[modifier] else {
            if required { throw UsageError("\(command.rawValue) needs \(modifier.usage)", usage: command.usage) }
            return nil
        }
        do { return try Expiry.time(parsing: text, what: modifier.rawValue) } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
    }

    func historyFilter() throws(UsageError) -> HistoryFilter {
        var filter = HistoryFilter(provider: try provider(), since: try time(.since))
        if let text = values[.key] { filter.keyNumber = try CommandValues.keyNumber(text, usage: command.usage) }
        if let text = values[.limit] {
            guard let limit = Int(text), (1...100_000).contains(limit) else {
                throw UsageError("--limit takes a whole number from 1 to 100000", usage: command.usage)
            }
            filter.limit = limit
        }
        return filter
    }

    func newKeyOptions() throws(UsageError) -> NewKeyOptions {
        var options = NewKeyOptions()
        do {
            if let text = values[.label], !text.trimmingASCIIWhitespace().isEmpty {
                options.label = try OperatorText.label(text)
            }
            if let text = values[.expires] { options.expiry = try Expiry(parsing: text) }
        } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
        return options
    }

    func bulkSource() -> BulkSource {
        guard let path = values[.file], path != "-" else { return .standardInput }
        return .file(path)
    }

    func duration(_ modifier: Modifier, default value: Duration) throws(UsageError) -> Duration {
        guard let text = values[modifier] else { return value }
        guard let seconds = Double(text), seconds.isFinite, (0.001...86_400).contains(seconds) else {
            throw UsageError("\(modifier.rawValue) takes seconds from 0.001 to 86400, such as 5 or 0.5")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
