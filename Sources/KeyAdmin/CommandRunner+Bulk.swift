import KeyStore

/// --add-bulk: where the lines come from, and the report of what was stored and skipped.
extension CommandRunner {
    func addBulk(
        to name: ProviderName, from source: BulkSource, force: Bool, options: NewKeyOptions
    ) throws(KeyStoreError) {
        let loader = BulkLoader(store: store, force: force, options: options)
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
            err.line("read \(keyLines.count) key line\(keyLines.count == 1 ? "" : "s"); storing them in \(name)")
            err.flush()
            var source = ArrayLineSource(lines)
            report = try loader.load(&source, into: name)
        case .standardInput:
            var lines = try FileLineSource()
            report = try loader.load(&lines, into: name)
        }
        if output.json {
            let skipped: [JSON.Value] = report.skipped.map { line in
                var members: [(String, JSON.Value)] = [
                    ("line", .number(line.lineNumber)), ("key", .string(line.key.masked)),
                ]
                switch line.reason {
                case .alreadyStored(let number):
                    members += [("reason", .string("already_stored")), ("number", .number(number))]
                case .repeatedInInput:
                    members.append(("reason", .string("repeated_in_input")))
                }
                return .object(members)
            }
            let numbers: JSON.Value =
                report.addedNumbers.map {
                    .object([("first", .number($0.lowerBound)), ("last", .number($0.upperBound))])
                } ?? .null
            self.report(
                [
                    ("provider", .string(name.rawValue)), ("added", .number(report.addedCount)), ("numbers", numbers),
                    ("skipped_count", .number(report.skippedCount)), ("skipped", .array(skipped)),
                ], text: [])
            return
        }
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
        self.report([], text: lines)
    }
}
