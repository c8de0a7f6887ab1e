#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KeyStore
import Postgres

/// Runs one parsed command against the store and prints its result. No SQL here.
struct CommandRunner {
    let store: KeyStore
    let output: OutputOptions
    let out = OutputStream.standardOutput
    let err = OutputStream.standardError

    func run(_ command: Command) throws(KeyStoreError) {
        switch command {
        case .list(let provider):
            try ListPrinter(output: output, out: out).print(store: store, provider: provider)

        case .addProvider(let name):
            try store.addProvider(name)
            report(["provider": .string(name.rawValue), "added": .bool(true)], text: "added provider \(name)")

        case .addKey(let name, let input):
            let key = try readKey(input, for: name)
            let number = try store.addKey(key, to: name)
            report(["provider": .string(name.rawValue), "number": .number(number), "key": .string(key.masked)],
                   text: "added key #\(number) to \(name) (\(key.masked))")

        case .addBulk(let name, let file):
            try addBulk(to: name, file: file)

        case .updateKey(let name, let number, let input):
            let key = try readKey(input, for: name)
            let outcome = try store.updateKey(number: number, of: name, to: key)
            report(["provider": .string(name.rawValue), "number": .number(number), "key": .string(key.masked),
                    "changed": .bool(outcome == .replaced)],
                   text: outcome == .replaced
                       ? "replaced key #\(number) of \(name) (now \(key.masked))"
                       : "key #\(number) of \(name) is already that key; nothing changed")

        case .deleteKey(let name, let number):
            try store.deleteKey(number: number, of: name)
            report(["provider": .string(name.rawValue), "number": .number(number), "deleted": .bool(true)],
                   text: "deleted key #\(number) of \(name)")

        case .deleteProvider(let name, let confirmed):
            try confirmDeletion(of: name, confirmed: confirmed)
            let keys = try store.deleteProvider(name)
            report(["provider": .string(name.rawValue), "deleted": .bool(true), "deleted_keys": .number(keys)],
                   text: "deleted provider \(name) and its \(keys) key\(keys == 1 ? "" : "s")")

        case .migrate(let dryRun):
            try migrate(dryRun: dryRun)

        case .getKey(let name, let number):
            let key = try store.key(number: number, of: name)
            printKey(key, provider: name, number: number)

        case .randomKey(let name):
            let key = try store.randomKey(of: name)
            printKey(key, provider: name, number: nil)
        }
    }

    private func printKey(_ key: APIKey, provider: ProviderName, number: Int?) {
        if output.json {
            var members: [(String, JSON.Value)] = [("provider", .string(provider.rawValue))]
            if let number { members.append(("number", .number(number))) }
            members.append(("key", .string(key.revealed)))
            out.line(JSON.Value.object(members).text)
        } else {
            out.line(key.revealed)
        }
    }

    /// One result: a sentence for people, an object for `--json`.
    private func report(_ members: KeyValuePairs<String, JSON.Value>, text: String) {
        out.line(output.json ? JSON.Value.object(members.map { ($0.key, $0.value) }).text : text)
    }

    // MARK: - Keys from stdin

    private func readKey(_ input: KeyInput, for name: ProviderName) throws(KeyStoreError) -> APIKey {
        switch input {
        case .argument(let key):
            return key
        case .standardInput:
            if Terminal.inputIsTerminal {
                let lines = Terminal.readHiddenLines(prompt: "Key for \(name) (input hidden): ", untilEmptyLine: false)
                return try APIKey(validating: lines.first ?? "")
            }
            guard let bytes = readAll(from: STDIN_FILENO, limit: 64 * 1024) else {
                throw .invalidInput("cannot read the key from standard input", hint: nil)
            }
            // One key, one line: a trailing newline is fine, a second line is not.
            guard !bytes.trimmingTrailingNewlines().contains(0x0A) else {
                throw .invalidInput("standard input holds more than one line", hint: "give one key, or use --add-bulk for many")
            }
            return try APIKey(validatingBytes: bytes)
        }
    }

    // MARK: - Bulk

    private func addBulk(to name: ProviderName, file: String?) throws(KeyStoreError) {
        let loader = BulkLoader(store: store)
        let report: BulkReport
        if let file {
            var source = try FileLineSource(path: file)
            report = try loader.load(&source, into: name)
        } else if Terminal.inputIsTerminal {
            let lines = Terminal.readHiddenLines(
                prompt: "Paste the keys for \(name), one per line, then an empty line (input hidden):\n", untilEmptyLine: true)
            var source = ArrayLineSource(lines)
            report = try loader.load(&source, into: name)
        } else {
            var source = try FileLineSource()
            report = try loader.load(&source, into: name)
        }
        if output.json {
            let skipped: [JSON.Value] = report.skipped.map { line in
                var members: [(String, JSON.Value)] = [("line", .number(line.lineNumber)), ("key", .string(line.key.masked))]
                switch line.reason {
                case .alreadyStored(let number):
                    members += [("reason", .string("already_stored")), ("number", .number(number))]
                case .repeatedInInput:
                    members.append(("reason", .string("repeated_in_input")))
                }
                return .object(members)
            }
            let numbers: JSON.Value = report.addedNumbers.map {
                .object([("first", .number($0.lowerBound)), ("last", .number($0.upperBound))])
            } ?? .null
            out.line(JSON.Value.object([
                ("provider", .string(name.rawValue)), ("added", .number(report.addedCount)), ("numbers", numbers),
                ("skipped_count", .number(report.skippedCount)), ("skipped", .array(skipped)),
            ]).text)
            return
        }
        var summary = "added \(report.addedCount) key\(report.addedCount == 1 ? "" : "s") to \(name)"
        if let numbers = report.addedNumbers {
            summary += numbers.count == 1 ? " (#\(numbers.lowerBound))" : " (#\(numbers.lowerBound)-#\(numbers.upperBound))"
        }
        if report.skippedCount > 0 { summary += "; skipped \(report.skippedCount)" }
        out.line(summary)
        for line in report.skipped {
            switch line.reason {
            case .alreadyStored(let number):
                out.line("  skipped line \(line.lineNumber) (\(line.key.masked)): already stored as #\(number)")
            case .repeatedInInput:
                out.line("  skipped line \(line.lineNumber) (\(line.key.masked)): repeated in the input")
            }
        }
        if report.skippedCount > report.skipped.count {
            out.line("  ... and \(report.skippedCount - report.skipped.count) more skipped lines")
        }
    }

    // MARK: - Provider deletion

    private func confirmDeletion(of name: ProviderName, confirmed: Bool) throws(KeyStoreError) {
        if confirmed { return }
        guard Terminal.inputIsTerminal else {
            throw .invalidInput("--delete-provider deletes every key of \(name) and needs confirmation",
                                hint: "add --yes to confirm when not on a terminal")
        }
        guard let count = try store.keyCount(of: name) else { throw .providerNotFound(name) }
        let answer = Terminal.ask("This deletes provider \(name) and its \(count) key\(count == 1 ? "" : "s"). Type the provider's name to confirm: ")
        guard answer?.trimmingASCIIWhitespace() == name.rawValue else {
            throw .invalidInput("the name typed did not match; nothing was deleted", hint: nil)
        }
    }

    // MARK: - Migrations

    private func migrate(dryRun: Bool) throws(KeyStoreError) {
        let outcome = try Migrator(connection: store.connection).run(dryRun: dryRun)
        for warning in outcome.warnings { err.line("warning: \(warning.dropPrefix("WARNING:").trimmingASCIIWhitespace())") }
        if output.json {
            out.line(JSON.Value.object([
                ("dry_run", .bool(dryRun)),
                ("applied", .array(outcome.applied.map { .string($0.fileName) })),
                ("already_applied", .array(outcome.alreadyApplied.map { .string($0.fileName) })),
            ]).text)
            return
        }
        for migration in outcome.applied { out.line("\(dryRun ? "would apply" : "applied") \(migration.fileName)") }
        if outcome.applied.isEmpty {
            out.line("the database is up to date (\(outcome.alreadyApplied.count) migration\(outcome.alreadyApplied.count == 1 ? "" : "s") applied)")
        }
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
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return bytes
    }
}
