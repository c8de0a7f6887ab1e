import KeyStore
import Postgres

/// The `keyadmin` program: parse, locate the database, run one command's handler, print its
/// result through the one printer, exit with its status.
public enum CommandLineTool {
    /// Runs `keyadmin` with `arguments` (without the program's name) and exits with its status.
    public static func main(_ arguments: [String]) -> Never {
        // Parse before any I/O: help and version go to stdout with status 0; a mistake is one
        // line and status 2.
        let invocation: Invocation
        do {
            switch try Invocation.parse(arguments) {
            case .run(let parsed):
                invocation = parsed
            case .help(let command):
                BufferedOutput.standardOutput.line(command.map(HelpText.command) ?? HelpText.full)
                ResultPrinter(json: false).finish()
            case .version(let json):
                let printer = ResultPrinter(json: json)
                if json {
                    let writer = JSONWriter(printer.out)
                    writer.value(.object([JSONMember("version", .string(KeyAdminVersion.current))]))
                    writer.endDocument()
                } else {
                    printer.out.line("keyadmin \(KeyAdminVersion.current)")
                }
                printer.finish()
            }
        } catch {
            // Messages that already say what to do end with their hint in parentheses.
            let message = error.description
            ResultPrinter(json: false).fail(
                message.hasSuffix(")") ? message : "\(message) (see keyadmin --help)", status: .usage)
        }
        let printer = ResultPrinter(json: invocation.output.json)
        // Who acts, for the audit trail: resolved once, before any I/O, and only for commands
        // that write.
        var actor: OperatorText?
        if invocation.name.entry.writes {
            do { actor = try invocation.resolveActor() } catch { printer.fail(error.description, status: .usage) }
        }
        if let standalone = invocation.command as? any StandaloneCommand {
            printer.out.write(standalone.output)
            printer.finish()
        }
        if invocation.output.json { printer.out.hold() }
        endProcessOnInterrupt()
        run(invocation, actor: actor, printer: printer)
    }

    /// Locates the database, connects and runs the command; every error after the database is
    /// known names it and the setting that chose it.
    private static func run(_ invocation: Invocation, actor: OperatorText?, printer: ResultPrinter) -> Never {
        var source: String?
        var target: DatabaseTarget?
        do throws(KeyStoreError) {
            let located = try DatabaseLocator().locate(commandLineURL: invocation.connection.databaseURL)
            source = located.source
            for warning in located.warnings { printer.warning(warning) }
            let settings = ConnectionSettings(
                connectionString: located.connectionString,
                statementTimeout: invocation.connection.statementTimeout,
                lockTimeout: invocation.connection.lockTimeout)
            let store = try KeyStore.connect(settings, located: located, actor: actor)
            let database = DatabaseTarget(address: store.target, source: located.source)
            target = database
            let result = try invocation.command.run(
                CommandContext(store: store, invocation: invocation, target: database, actor: actor, printer: printer))
            try printer.print(result, on: database)
            if let failure = result.verdict?.failure {
                printer.fail(afterPrinting: failure, on: database)
            }
            printer.finish()
        } catch {
            var database = target.map { " [database \($0.label)]" } ?? source.map { " [database from \($0)]" } ?? ""
            if !error.concernsTheDatabase { database = "" }
            printer.fail(error.oneLine + database, status: ExitStatus(error.category))
        }
    }
}
