import KeyStore
import Postgres

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Exit codes, as documented in the README and `--help`.
enum ExitStatus: Int32 {
    case success = 0, failure = 1, usage = 2, notFound = 3, busy = 4
    // 130 (128 + SIGINT) and 143 (SIGTERM) come from Interrupts.

    init(_ category: KeyStoreError.Category) {
        switch category {
        case .failure: self = .failure
        case .usage: self = .usage
        case .notFound: self = .notFound
        case .busy: self = .busy
        }
    }
}

func fail(_ message: String, status: ExitStatus) -> Never {
    let err = OutputStream.standardError
    OutputStream.standardOutput.discardHeld()
    OutputStream.standardOutput.flush()
    err.line(Style.red.apply("error:", when: err.usesColour) + " " + message)
    err.flush()
    exit(status.rawValue)
}

func finish() -> Never {
    OutputStream.standardOutput.release()
    OutputStream.standardError.flush()
    exit(ExitStatus.success.rawValue)
}

// Parse before any I/O: help and version go to stdout with status 0; a mistake is one line
// and status 2.
let invocation: Invocation
do {
    switch try Invocation.parse(Array(CommandLine.arguments.dropFirst())) {
    case .run(let parsed):
        invocation = parsed
    case .help:
        OutputStream.standardOutput.line(HelpText.full)
        finish()
    case .version:
        OutputStream.standardOutput.line("keyadmin \(KeyAdminVersion.current)")
        finish()
    }
} catch {
    // Messages that already say what to do end with their hint in parentheses.
    let message = error.description
    fail(message.hasSuffix(")") ? message : "\(message) (see keyadmin --help)", status: .usage)
}

if case .completions(let shell) = invocation.command {
    OutputStream.standardOutput.write(Completions.script(for: shell))
    finish()
}
if invocation.output.json { OutputStream.standardOutput.hold() }

Interrupts.install()
run(invocation)

/// Locates the database, connects and runs the command; every error after the database is
/// known names it and the setting that chose it.
func run(_ invocation: Invocation) -> Never {
    var invocation = invocation
    var source: String?
    var target: DatabaseTarget?
    do throws(KeyStoreError) {
        let located = try DatabaseLocator().locate(commandLineURL: invocation.connection.databaseURL)
        source = located.source
        for warning in located.warnings {
            OutputStream.standardError.line("warning: \(warning)")
        }
        OutputStream.standardError.flush()
        var settings = ConnectionSettings(
            connectionString: located.connectionString,
            statementTimeout: invocation.connection.statementTimeout,
            lockTimeout: invocation.connection.lockTimeout)
        // Who acts, for the audit trail's triggers: set in each transaction, so that it holds
        // through a transaction-mode pooler too. Resolved once, and only for commands that write.
        if invocation.command.writes {
            invocation.actor = invocation.resolvedActor
            settings.transactionSettings = [("keyadmin.actor", invocation.resolvedActor.rawValue)]
        }
        let store = try KeyStore.connect(settings, located: located)
        let database = DatabaseTarget(address: store.target, source: located.source)
        target = database
        try CommandRunner(store: store, invocation: invocation, target: database).run()
        finish()
    } catch {
        let database = target.map { " [database \($0.label)]" } ?? source.map { " [database from \($0)]" } ?? ""
        fail(error.oneLine + database, status: ExitStatus(error.category))
    }
}
