import KeyStore
import Postgres

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The database a command runs on, and which setting chose it: every result and error says
/// both, so that a stale variable in the shell cannot send a command somewhere unnoticed.
struct DatabaseTarget {
    /// "host:port/database", never a password.
    let address: String
    /// "--database-url", "DATABASE_URL from .env", "libpq defaults"...
    let source: String

    var label: String { "\(address) (\(source))" }
}

/// Runs one parsed command against the store and prints its result. No SQL here.
struct CommandRunner {
    let store: KeyStore
    let invocation: Invocation
    let target: DatabaseTarget
    let out = OutputStream.standardOutput
    let err = OutputStream.standardError

    var output: OutputOptions { invocation.output }

    func run() throws(KeyStoreError) {
        switch invocation.command {
        case .list(let provider, let reveal, let state):
            try ListPrinter(json: output.json, reveal: reveal, out: out, database: target).print(
                store: store, provider: provider, state: state)

        case .addProvider(let name):
            try store.addProvider(name)
            report(["provider": .string(name.rawValue), "added": .bool(true)], text: "added provider \(name)")

        case .addKey(let name, let input, let number, let force, let options):
            let key = try readKey(input, for: name, force: force)
            let added = try store.addKey(key, to: name, number: number, options: options)
            report(
                ["provider": .string(name.rawValue), "number": .number(added), "key": .string(key.masked)],
                text: "added key #\(added) to \(name) (\(key.masked))")

        case .addBulk(let name, let source, let force, let options):
            try addBulk(to: name, from: source, force: force, options: options)

        case .updateKey(let name, let number, let input, let force):
            let key = try readKey(input, for: name, force: force)
            let outcome = try store.updateKey(number: number, of: name, to: key)
            report(
                [
                    "provider": .string(name.rawValue), "number": .number(number), "key": .string(key.masked),
                    "changed": .bool(outcome == .replaced),
                ],
                text: outcome == .replaced
                    ? "replaced key #\(number) of \(name) (now \(key.masked))"
                    : "key #\(number) of \(name) is already that key; nothing changed")

        case .deleteKey(let name, let number):
            let confirmed = try confirmKeyDeletion(number: number, of: name)
            let deleted = try store.deleteKey(number: number, of: name, expected: confirmed)
            report(
                [
                    "provider": .string(name.rawValue), "number": .number(number), "key": .string(deleted.masked),
                    "deleted": .bool(true),
                ],
                text:
                    "deleted key #\(number) of \(name) (\(deleted.masked)); put it back with keyadmin --add-key \(name) - --number \(number)"
            )

        case .deleteProvider(let name):
            try confirmProviderDeletion(of: name)
            let keys = try store.deleteProvider(name)
            report(
                ["provider": .string(name.rawValue), "deleted": .bool(true), "deleted_keys": .number(keys)],
                text: "deleted provider \(name) and its \(keys) key\(keys == 1 ? "" : "s")")

        case .migrate(let dryRun):
            try migrate(dryRun: dryRun)

        case .getKey(let name, let number):
            let key = try store.key(number: number, of: name)
            printKey(key, provider: name, number: number)

        case .randomKey(let name):
            let key = try store.randomKey(of: name)
            printKey(key, provider: name, number: nil)

        case .disableKey(let name, let number, let reason):
            let (key, changed) = try store.disableKey(
                number: number, of: name, reason: reason, actor: invocation.resolvedActor)
            reportChange(
                name, number, key, changed: changed,
                text: changed
                    ? "disabled key #\(number) of \(name) (\(key.masked)); --enable-key \(name) \(number) undoes it"
                    : "key #\(number) of \(name) (\(key.masked)) was already disabled; nothing changed")

        case .enableKey(let name, let number):
            let (key, changed) = try store.enableKey(number: number, of: name)
            reportChange(
                name, number, key, changed: changed,
                text: changed
                    ? "enabled key #\(number) of \(name) (\(key.masked)); its cooldown and failures are cleared"
                    : "key #\(number) of \(name) (\(key.masked)) was already enabled; nothing changed")

        case .setLabel(let name, let number, let label):
            let (key, changed) = try store.setLabel(label, number: number, of: name)
            let what = label.rawValue.isEmpty ? "cleared the label of" : "labelled"
            reportChange(
                name, number, key, changed: changed,
                text: changed
                    ? "\(what) key #\(number) of \(name) (\(key.masked))"
                    : "key #\(number) of \(name) (\(key.masked)) already has that label; nothing changed")

        case .setExpiry(let name, let number, let expiry):
            let (key, changed) = try store.setExpiry(expiry, number: number, of: name)
            let when =
                switch expiry {
                case .never: "never expires"
                case .at(let time): "expires at \(time)"
                }
            reportChange(
                name, number, key, changed: changed,
                text: changed
                    ? "key #\(number) of \(name) (\(key.masked)) now \(when)"
                    : "key #\(number) of \(name) (\(key.masked)) already \(when); nothing changed")

        case .history(let filter):
            HistoryPrinter(json: output.json, out: out, database: target).print(try store.history(filter))

        case .pruneHistory(let before):
            let deleted = try store.pruneHistory(before: before)
            report(
                [("before", .string(before)), ("deleted", .number(deleted))],
                text: [
                    "deleted \(deleted) event\(deleted == 1 ? "" : "s") before \(before); the pruning itself is recorded"
                ])

        case .doctor(let strict):
            let findings = Doctor(store: store).run()
            DoctorPrinter(json: output.json, out: out, database: target).print(findings)
            let failed = findings.filter { $0.status == .fail || (strict && $0.status == .warn) }.count
            if failed > 0 {
                // The report stands whatever the verdict: a monitoring job reads it.
                out.release()
                throw .checksFailed(failed, countingWarnings: strict)
            }

        case .completions:
            break  // printed before connecting
        }
    }

    private func reportChange(_ name: ProviderName, _ number: Int, _ key: APIKey, changed: Bool, text: String) {
        report(
            [
                ("provider", .string(name.rawValue)), ("number", .number(number)), ("key", .string(key.masked)),
                ("changed", .bool(changed)),
            ],
            text: [text])
    }

    /// The keys are for `$(...)`: alone on stdout, without the database line.
    private func printKey(_ key: APIKey, provider: ProviderName, number: Int?) {
        if output.json {
            var members = databaseMembers + [("provider", JSON.Value.string(provider.rawValue))]
            if let number { members.append(("number", .number(number))) }
            members.append(("key", .string(key.revealed)))
            out.line(JSON.Value.object(members).text)
        } else {
            out.line(key.revealed)
        }
    }

    private var databaseMembers: [(String, JSON.Value)] {
        [("database", .string(target.address)), ("database_source", .string(target.source))]
    }

    private func printTarget() {
        out.line(Style.dim.apply("database: \(target.label)", when: out.usesColour))
    }

    /// One result: a sentence for people, an object for `--json`; both name the database.
    func report(_ members: KeyValuePairs<String, JSON.Value>, text: String) {
        report(members.map { ($0.key, $0.value) }, text: [text])
    }

    func report(_ members: [(String, JSON.Value)], text lines: [String]) {
        if output.json {
            out.line(JSON.Value.object(databaseMembers + members).text)
            return
        }
        printTarget()
        for line in lines { out.line(line) }
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}

extension Array<UInt8> {
    func trimmingTrailingNewlines() -> ArraySlice<UInt8> {
        var bytes = self[...]
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 {
            bytes = bytes.dropLast()
        }
        return bytes
    }
}
