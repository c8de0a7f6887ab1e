import KeyStore

/// What a command has to say, for the one printer (`ResultPrinter`) to write: lines for a
/// person, members for `--json`. The database line and the JSON envelope are the printer's.
struct CommandResult {
    enum Body {
        /// A few lines, and the JSON members that say the same.
        case report(lines: [String], members: [JSONMember])
        /// Written while it is produced, for listings of any length; `write` runs inside the
        /// envelope, with the database already named.
        case streamed(write: (ResultStream) throws(KeyStoreError) -> Void)
        /// A key for `$(...)`: alone on stdout as text; as JSON, `members` then the key.
        case secret(APIKey, members: [JSONMember])
        /// A document in a format of its own (`--metrics`' Prometheus text): alone on stdout,
        /// with no database line, which would break the format.
        case exposition(String)
    }

    var body: Body
    /// Set when the command must still fail after its result is printed: a report that
    /// stands whatever the verdict (`--doctor`, `--check`), then the verdict's error and exit
    /// code. A streamed result may give its verdict only once it has been written.
    var verdict: Verdict?

    static func report(_ lines: [String], _ members: [JSONMember]) -> CommandResult {
        CommandResult(body: .report(lines: lines, members: members))
    }

    static func report(_ line: String, _ members: [JSONMember]) -> CommandResult {
        report([line], members)
    }

    static func streamed(_ write: @escaping (ResultStream) throws(KeyStoreError) -> Void) -> CommandResult {
        CommandResult(body: .streamed(write: write))
    }
}

/// Where a streamed result writes: lines for a person, or members through the JSON writer.
final class ResultStream {
    let json: JSONWriter?
    let output: BufferedOutput
    private var opening: (() -> Void)?

    /// `opening` writes what comes before the result (the database line); it runs once, when
    /// the handler knows it has something to show, so that a refusal prints nothing to stdout.
    init(json: JSONWriter?, output: BufferedOutput, opening: @escaping () -> Void) {
        self.json = json
        self.output = output
        self.opening = opening
    }

    /// Colour for people on a terminal; never in JSON.
    var usesColour: Bool { json == nil && output.usesColour }

    func open() {
        opening?()
        opening = nil
    }

    func line(_ text: String) {
        open()
        output.line(text)
    }
}

/// How a command that printed its result ends: `failure`, or success when it is `nil`. A class,
/// so that a streamed result can set it while it is written.
final class Verdict {
    var failure: CommandFailure?

    init(_ failure: CommandFailure? = nil) { self.failure = failure }
}

/// A command that failed after it printed what it found (`--doctor`'s checks).
struct CommandFailure: Error {
    let message: String
    let hint: String?
    let status: ExitStatus
}
