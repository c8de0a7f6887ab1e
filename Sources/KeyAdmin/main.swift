import ArgumentParser
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

// Parse: help and version go to stdout with status 0; any mistake is one line and status 2.
let parsed: KeyAdminCommand
do {
    parsed = try KeyAdminCommand.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    let code = KeyAdminCommand.exitCode(for: error)
    if code == .success {
        OutputStream.standardOutput.line(KeyAdminCommand.fullMessage(for: error))
        OutputStream.standardOutput.flush()
        exit(0)
    }
    let message = KeyAdminCommand.message(for: error)
        .split(separator: "\n").first.map(String.init)?
        .dropPrefix("Error: ") ?? "invalid arguments"
    // Messages that already say what to do end with their hint in parentheses.
    fail(message.hasSuffix(")") ? message : "\(message) (see keyadmin --help)", status: .usage)
}
let command: Command
do {
    command = try parsed.command()
} catch {
    fail("\(error) (see keyadmin --help)", status: .usage)
}

Interrupts.install()
do throws(KeyStoreError) {
    let located = try DatabaseLocator().locate(commandLineURL: parsed.connection.databaseURL)
    for warning in located.warnings {
        OutputStream.standardError.line("warning: \(warning)")
    }
    OutputStream.standardError.flush()
    let settings = ConnectionSettings(
        connectionString: located.connectionString,
        statementTimeoutMilliseconds: Int(parsed.connection.statementTimeoutSeconds * 1000),
        lockTimeoutMilliseconds: Int(parsed.connection.lockTimeoutSeconds * 1000))
    let store = try KeyStore.connect(settings)
    try CommandRunner(store: store, output: parsed.output).run(command)
    OutputStream.standardOutput.flush()
    OutputStream.standardError.flush()
    exit(0)
} catch {
    fail(error.oneLine, status: ExitStatus(error.category))
}
