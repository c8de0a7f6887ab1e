import KeyStore

/// The database a command runs on, and which setting chose it: every result and error says
/// both, so that a stale variable in the shell cannot send a command somewhere unnoticed.
struct DatabaseTarget {
    /// "host:port/database", never a password.
    let address: String
    /// "--database-url", "DATABASE_URL from .env", "libpq defaults"...
    let source: String

    var label: String { "\(address) (\(source))" }

    /// The envelope's members: every `--json` document starts with them.
    var members: [JSONMember] {
        [JSONMember("database", .string(address)), JSONMember("database_source", .string(source))]
    }
}

/// The one printer: the database line or the JSON envelope around every result, and every
/// error line. Handlers say what they have to say; how it looks is decided here.
struct ResultPrinter {
    let json: Bool
    let out = BufferedOutput.standardOutput
    let err = BufferedOutput.standardError

    func print(_ result: CommandResult, on target: DatabaseTarget) throws(KeyStoreError) {
        if json {
            let writer = JSONWriter(out)
            writer.beginObject()
            writer.members(target.members)
            switch result.body {
            case .report(_, let members):
                writer.members(members)
            case .streamed(let write):
                try write(ResultStream(json: writer, output: out) {})
            case .secret(let key, let members):
                writer.members(members)
                writer.member(JSONMember("key", .string(key.revealed)))
            case .exposition(let text):
                writer.member(JSONMember("text", .string(text)))
            }
            writer.endObject()
            writer.endDocument()
            return
        }
        switch result.body {
        case .report(let lines, _):
            printDatabaseLine(target)
            for line in lines { out.line(line) }
        case .streamed(let write):
            let stream = ResultStream(json: nil, output: out) { printDatabaseLine(target) }
            try write(stream)
            stream.open()
        case .secret(let key, _):
            // Alone on stdout, for `$(...)`: no database line.
            out.line(key.revealed)
        case .exposition(let text):
            out.write(text)
        }
    }

    private func printDatabaseLine(_ target: DatabaseTarget) {
        out.line(Style.dim.apply("database: \(target.label)", when: out.usesColour))
    }

    func warning(_ text: String) {
        err.line("warning: \(text)")
        err.flush()
    }

    /// A line for the person at the terminal while a command works ("read 12 key lines..."),
    /// on stderr so that stdout stays the result.
    func note(_ text: String) {
        err.line(text)
        err.flush()
    }

    /// Writes what was printed (a held `--json` document included) and ends the process.
    func finish() -> Never {
        out.release()
        err.flush()
        exitProcess(ExitStatus.success.rawValue)
    }

    /// One line on stderr and the exit code; a held `--json` document is dropped, since half
    /// a document is worse than none.
    func fail(_ message: String, status: ExitStatus) -> Never {
        out.discardHeld()
        out.flush()
        err.line(Style.red.apply("error:", when: err.usesColour) + " " + message)
        err.flush()
        exitProcess(status.rawValue)
    }

    /// Like `fail`, after the result was printed: the report stands (a monitoring job reads it).
    func fail(afterPrinting failure: CommandFailure, on target: DatabaseTarget) -> Never {
        out.release()
        let line = failure.hint.map { "\(failure.message) (\($0))" } ?? failure.message
        fail(line + " [database \(target.label)]", status: failure.status)
    }
}
