import KeyStore

/// `--add-bulk PROVIDER [--file PATH] [--force] [--label TEXT] [--expires WHEN] [--tier TIER]
/// [--weight WEIGHT] [--account NAME]`: many keys, one per line, in one transaction.
struct AddBulkCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider], help: "add many keys, one per line, from stdin or --file", writes: true,
        example: "keyadmin --add-bulk openai --file ~/openai-keys.txt --tier 2"
    ) { values, modifiers throws(UsageError) in
        AddBulkCommand(
            name: try values.provider(), source: try modifiers.bulkSource(), force: modifiers.has(.force),
            options: try modifiers.newKeyOptions())
    }

    let name: ProviderName
    let source: BulkSource
    let force: Bool
    let options: NewKeyOptions

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let loader = BulkLoader(store: context.store, force: force, options: options)
        let report: BulkReport
        switch source {
        case .file(let path):
            var lines = try FileLineSource(path: path)
            report = try loader.load(&lines, into: name)
        case .standardInput where Terminal.inputIsTerminal:
            // A paste may hold blank lines: only the end of input (Ctrl-D) or two empty lines
            // in a row end it, and the count read is said before anything is stored.
            let lines = Terminal.readHiddenLines(
                prompt: "Paste the keys for \(name), one per line, then Ctrl-D (or two empty lines); input hidden:\n",
                untilEndOfInput: true)
            let keyLines = lines.filter {
                !$0.trimmingASCIIWhitespace().isEmpty && !$0.trimmingASCIIWhitespace().hasPrefix("#")
            }
            context.printer.note(
                "read \(keyLines.count) key line\(keyLines.count == 1 ? "" : "s"); storing them in \(name)")
            var source = ArrayLineSource(lines)
            report = try loader.load(&source, into: name)
        case .standardInput:
            var lines = try FileLineSource()
            report = try loader.load(&lines, into: name)
        }
        return .report(Self.lines(report, name), Self.members(report, name))
    }

    private static func members(_ report: BulkReport, _ name: ProviderName) -> [JSONMember] {
        let skipped: [JSONValue] = report.skipped.map { line in
            var members = [JSONMember("line", .number(line.lineNumber)), JSONMember("key", .string(line.key.masked))]
            switch line.reason {
            case .alreadyStored(let number):
                members += [JSONMember("reason", .string("already_stored")), JSONMember("number", .number(number))]
            case .repeatedInInput:
                members.append(JSONMember("reason", .string("repeated_in_input")))
            }
            return .object(members)
        }
        let numbers: JSONValue =
            report.addedNumbers.map {
                .object([JSONMember("first", .number($0.lowerBound)), JSONMember("last", .number($0.upperBound))])
            } ?? .null
        return [
            JSONMember("provider", .string(name.rawValue)), JSONMember("added", .number(report.addedCount)),
            JSONMember("numbers", numbers), JSONMember("skipped_count", .number(report.skippedCount)),
            JSONMember("skipped", .array(skipped)),
        ]
    }

    private static func lines(_ report: BulkReport, _ name: ProviderName) -> [String] {
        var summary = "added \(report.addedCount) key\(report.addedCount == 1 ? "" : "s") to \(name)"
        if let numbers = report.addedNumbers {
            summary +=
                numbers.count == 1 ? " (#\(numbers.lowerBound))" : " (#\(numbers.lowerBound)-#\(numbers.upperBound))"
        }
        if report.skippedCount > 0 { summary += "; skipped \(report.skippedCount)" }
        var lines = [summary]
        for line in report.skipped {
            switch line.reason {
            case .alreadyStored(let number):
                lines.append("  skipped line \(line.lineNumber) (\(line.key.masked)): already stored as #\(number)")
            case .repeatedInInput:
                lines.append("  skipped line \(line.lineNumber) (\(line.key.masked)): repeated in the input")
            }
        }
        if report.skippedCount > report.skipped.count {
            lines.append("  ... and \(report.skippedCount - report.skipped.count) more skipped lines")
        }
        return lines
    }
}

enum BulkSource: Equatable {
    case standardInput
    case file(String)
}
