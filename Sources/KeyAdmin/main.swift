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
    OutputStream.standardOutput.flush()
    err.line(Style.red.apply("error:", when: err.usesColour) + " " + message)
    err.flush()
    exit(status.rawValue)
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
        OutputStream.standardOutput.flush()
        exit(0)
    case .version:
        OutputStream.standardOutput.line("keyadmin \(KeyAdminVersion.current)")
        OutputStream.standardOutput.flush()
        exit(0)
    }
} catch {
    // Messages that already say what to do end with their hint in parentheses.
    let message = error.description
    fail(message.hasSuffix(")") ? message : "\(message) (see keyadmin --help)", status: .usage)
}
let command = invocation.command

Interrupts.install()
do throws(KeyStoreError) {
    let located = try DatabaseLocator().locate(commandLineURL: invocation.connection.databaseURL)
    for warning in located.warnings {
        OutputStream.standardError.line("warning: \(warning)")
    }
    OutputStream.standardError.flush()
    let settings = ConnectionSettings(
        connectionString: located.connectionString,
        statementTimeoutMilliseconds: Int(invocation.connection.statementTimeoutSeconds * 1000),
        lockTimeoutMilliseconds: Int(invocation.connection.lockTimeoutSeconds * 1000))
    let store = try KeyStore.connect(settings)
    try CommandRunner(store: store, output: invocation.output).run(command)
    OutputStream.standardOutput.flush()
    OutputStream.standardError.flush()
    exit(0)
} catch {
    fail(error.oneLine, status: ExitStatus(error.category))
}
