import KeyCheck
import KeyStore

/// A command's values, handed out in order and checked as what they stand for. No message
/// quotes a value that failed its check: it may be a key typed in the wrong place.
struct CommandValues {
    let command: CommandName
    var remaining: ArraySlice<String>

    private mutating func next() -> String { remaining.popFirst() ?? "" }

    mutating func provider() throws(UsageError) -> ProviderName {
        let text = next()
        if text.contains("://") {
            throw UsageError(
                "that looks like a URL, not a provider name: check the order of the arguments", usage: command.usage)
        }
        do { return try ProviderName(validating: text) } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
    }

    /// `[PROVIDER]`: `nil` when it was left out.
    mutating func optionalProvider() throws(UsageError) -> ProviderName? {
        guard let text = remaining.first, !text.isEmpty else {
            _ = next()
            return nil
        }
        return try provider()
    }

    /// The name of a provider to create: not shaped like a key or an id unless `force`.
    mutating func newProvider(force: Bool) throws(UsageError) -> ProviderName {
        do { return try ProviderName(validatingNew: next(), force: force) } catch {
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

    /// An expiry; one in the past only with `force` (it would take the key out of rotation at once).
    mutating func expiry(force: Bool) throws(UsageError) -> Expiry {
        let expiry: Expiry
        do { expiry = try Expiry(parsing: next()) } catch { throw UsageError(error.oneLine, usage: command.usage) }
        try Self.refusePast(expiry, force: force)
        return expiry
    }

    static func refusePast(_ expiry: Expiry, force: Bool) throws(UsageError) {
        guard !force, case .at(let time) = expiry, expiry.isInThePast() else { return }
        throw UsageError(
            "that expiry, \(time), is in the past: the key would be out of rotation at once "
                + "(give a later time, now to expire the key now, or add --force)")
    }

    mutating func tier() throws(UsageError) -> KeyTier {
        do { return try KeyTier(validating: next()) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    /// An account name, or `none` (`nil`): no account.
    mutating func account() throws(UsageError) -> AccountName? {
        do { return try AccountName.parsing(next()) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    /// A zone name as typed (the server checks it), or `default` (`nil`): the built-in one.
    mutating func zone() throws(UsageError) -> String? {
        let text = next().trimmingASCIIWhitespace()
        if text.lowercased() == "default" { return nil }
        // Shapes only here (no message quotes it): letters, digits and / _ + - as zone names have.
        guard !text.isEmpty, text.count <= 64, !KeyShape.looksLikeKey(text),
            text.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789/_+-".unicodeScalars.contains($0))
            })
        else {
            throw UsageError(
                "a reset zone is an IANA time zone name such as America/Los_Angeles or UTC, or default",
                usage: command.usage)
        }
        return text
    }

    mutating func weight() throws(UsageError) -> KeyWeight {
        do { return try KeyWeight(validating: next()) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    /// An endpoint URL with the style `--api` names; the word `default` for the built-in one.
    mutating func endpoint(style text: String?) throws(UsageError) -> ProviderEndpoint? {
        let url = next()
        if url.trimmingASCIIWhitespace().lowercased() == "default" {
            if text != nil { throw UsageError("--api goes with a URL, not with default", usage: command.usage) }
            return nil
        }
        do {
            let endpointURL = try EndpointURL(validating: url)
            return ProviderEndpoint(url: endpointURL, style: try text.map(APIStyle.init(validating:)) ?? .openai)
        } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
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
            // "--disable-key 3 openai": a name where the number goes is most likely the order.
            let order =
                (try? ProviderName(validating: text)) != nil ? "; check the order: PROVIDER comes before NUM" : ""
            throw UsageError("a key number is a whole number from 1 to 2147483647, such as 3\(order)", usage: usage)
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
            let words = KeyState.filterWords
            throw UsageError(
                "--state takes \(words.dropLast().joined(separator: ", ")) or \(words[words.count - 1])",
                usage: command.usage)
        }
        return state
    }

    /// `--requests-per-day N --tokens-per-day N` (`none` clears one; one not given is kept); at
    /// least one of them.
    func quota() throws(UsageError) -> QuotaChange {
        guard has(.requestsPerDay) || has(.tokensPerDay) else {
            throw UsageError(
                "\(command.rawValue) needs --requests-per-day N or --tokens-per-day N (none clears one)",
                usage: command.usage)
        }
        do {
            return QuotaChange(
                requests: try values[.requestsPerDay].map { text throws(KeyStoreError) in
                    try QuotaChange.Limit(parsing: text, what: Modifier.requestsPerDay.rawValue)
                } ?? .unchanged,
                tokens: try values[.tokensPerDay].map { text throws(KeyStoreError) in
                    try QuotaChange.Limit(parsing: text, what: Modifier.tokensPerDay.rawValue)
                } ?? .unchanged)
        } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
    }

    /// `--account NAME`; `nil` when not given (or `none`).
    func account() throws(UsageError) -> AccountName? {
        guard let text = values[.account] else { return nil }
        do { return try AccountName.parsing(text) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    func reason() throws(UsageError) -> OperatorText? {
        guard let text = values[.reason], !text.trimmingASCIIWhitespace().isEmpty else { return nil }
        do { return try OperatorText.reason(text) } catch { throw UsageError(error.oneLine, usage: command.usage) }
    }

    /// `--affinity TEXT`: any text but an empty one (every empty affinity would share one key).
    func affinity() throws(UsageError) -> String? {
        guard let text = values[.affinity] else { return nil }
        guard !text.trimmingASCIIWhitespace().isEmpty else {
            throw UsageError("--affinity takes a non-empty text, such as a conversation id", usage: command.usage)
        }
        return text
    }

    func actor() throws(UsageError) -> OperatorText? {
        guard let text = values[.actor] else { return nil }
        do { return try OperatorText.actor(text) } catch { throw UsageError(error.oneLine) }
    }

    /// A time option (`--since`, `--before`), normalised; `nil` when not given and not required.
    func time(_ modifier: Modifier, required: Bool = false) throws(UsageError) -> UTCTime? {
        guard let text = values[modifier] else {
            if required { throw UsageError("\(command.rawValue) needs \(modifier.usage)", usage: command.usage) }
            return nil
        }
        do { return try Expiry.time(parsing: text, what: modifier.rawValue) } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
    }

    /// `--before WHEN`, required, and not later than now: `what` a time to come would delete.
    func pastCutoff(deleting what: String) throws(UsageError) -> UTCTime {
        let before = try time(.before, required: true) ?? UTCTime(secondsSinceEpoch: 0)
        guard before <= .now else {
            throw UsageError("--before \(before) is later than now; it would delete \(what) (give a time in the past)")
        }
        return before
    }

    func historyFilter() throws(UsageError) -> HistoryFilter {
        var filter = HistoryFilter(provider: try provider(), since: try time(.since))
        if let text = values[.keyNumber] { filter.keyNumber = try CommandValues.keyNumber(text, usage: command.usage) }
        if let limit = try wholeNumber(.limit, in: 1...100_000) { filter.limit = limit }
        return filter
    }

    func checkOptions() throws(UsageError) -> CheckOptions {
        var options = CheckOptions()
        if let text = values[.keyNumber] { options.only = try CommandValues.keyNumber(text, usage: command.usage) }
        options.revive = has(.revive)
        options.recordEveryRefusal = has(.force)
        if let count = try wholeNumber(.concurrency, in: CheckOptions.concurrencyRange) { options.concurrency = count }
        options.timeout = try duration(.timeout, default: CheckOptions.defaultTimeout)
        return options
    }

    func newKeyOptions() throws(UsageError) -> NewKeyOptions {
        var options = NewKeyOptions()
        do {
            if let text = values[.label], !text.trimmingASCIIWhitespace().isEmpty {
                options.label = try OperatorText.label(text)
            }
            if let text = values[.expires] { options.expiry = try Expiry(parsing: text) }
            if let text = values[.tier] { options.tier = try KeyTier(validating: text) }
            if let text = values[.weight] { options.weight = try KeyWeight(validating: text) }
            if let text = values[.account] { options.account = try AccountName.parsing(text) }
        } catch {
            throw UsageError(error.oneLine, usage: command.usage)
        }
        if let expiry = options.expiry { try CommandValues.refusePast(expiry, force: has(.force)) }
        return options
    }

    /// Where --add-bulk reads. A path shaped like a key is refused unseen: errors about a file
    /// quote its path.
    func bulkSource() throws(UsageError) -> BulkSource {
        guard let path = values[.file], path != "-" else { return .standardInput }
        if KeyShape.looksLikeKey(path) {
            throw UsageError(KeyShape.misplacedKeyError(expected: "a file path").oneLine, usage: command.usage)
        }
        return .file(path)
    }

    /// --database-url: a key given there is refused before libpq could quote it back.
    func databaseURL() throws(UsageError) -> String? {
        guard let url = values[.databaseURL] else { return nil }
        // A connection string may hold a long random password: only text that is neither a URI
        // nor key=value pairs is judged by its shape.
        let trimmed = url.trimmingASCIIWhitespace()
        let connectionShaped =
            trimmed.hasPrefix("postgresql://") || trimmed.hasPrefix("postgres://") || trimmed.contains("=")
        if !connectionShaped, KeyShape.looksLikeKey(trimmed) {
            throw UsageError(KeyShape.misplacedKeyError(expected: "a connection string").oneLine)
        }
        return url
    }

    /// A whole-number option (`--limit`, `--concurrency`) in `range`; `nil` when not given.
    func wholeNumber(_ modifier: Modifier, in range: ClosedRange<Int>) throws(UsageError) -> Int? {
        guard let text = values[modifier] else { return nil }
        guard let number = Int(text), range.contains(number) else {
            if KeyShape.looksLikeKey(text) {
                throw UsageError(KeyShape.misplacedKeyError(expected: "a number").oneLine, usage: command.usage)
            }
            throw UsageError(
                "\(modifier.rawValue) takes a whole number from \(range.lowerBound) to \(range.upperBound)",
                usage: command.usage)
        }
        return number
    }

    func duration(_ modifier: Modifier, default value: Duration) throws(UsageError) -> Duration {
        guard let text = values[modifier] else { return value }
        guard let seconds = Double(text), seconds.isFinite, (0.001...86_400).contains(seconds) else {
            throw UsageError("\(modifier.rawValue) takes seconds from 0.001 to 86400, such as 5 or 0.5")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
