import ArgumentParser
import KeyStore

/// The command line as the seed's Python tool spelled it: one `--command` per invocation.
/// Parsing and `validate()` turn the flags into one `Command` before any I/O happens.
struct KeyAdminCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyadmin",
        abstract: "Manage pools of LLM provider API keys stored in your own PostgreSQL (Supabase) database.",
        discussion: """
            Exactly one command per invocation. Keys are shown masked (sk-pr…a1b2) unless you ask for \
            them with --get-key, --random-key or --list --reveal.

            The database is --database-url, else WORKER_1_DATABASE_URL, else DATABASE_URL (from the \
            environment, then from .env in the current directory), else libpq's defaults (PGHOST, \
            PGUSER, ~/.pgpass...).

            Examples:
              keyadmin --migrate
              keyadmin --add-provider openai
              keyadmin --add-key openai -                  (reads the key from stdin, hidden on a terminal)
              keyadmin --add-bulk openai --file keys.txt   (one key per line; # comments)
              keyadmin --list
              keyadmin --list --provider openai --reveal
              export OPENAI_API_KEY=$(keyadmin --random-key openai)
              keyadmin --update-key openai 3 -
              keyadmin --delete-key openai 3
              keyadmin --delete-provider openai --yes

            Exit codes: 0 success, 1 failure, 2 usage or invalid input, 3 provider or key not found, \
            4 busy or timed out (try again).
            """,
        version: KeyAdminVersion.current
    )

    @Flag(name: .customLong("list"), help: "List providers and their keys (masked).")
    var list = false

    @Option(name: .customLong("provider"), help: ArgumentHelp("With --list: only this provider.", valueName: "NAME"))
    var provider: String?

    @Option(name: .customLong("add-provider"), help: ArgumentHelp("Add a provider.", valueName: "NAME"))
    var addProvider: String?

    @Option(name: .customLong("add-key"), parsing: .upToNextOption,
            help: ArgumentHelp("Add one key; KEY - reads it from stdin.", valueName: "PROVIDER KEY"))
    var addKey: [String] = []

    @Option(name: .customLong("add-bulk"),
            help: ArgumentHelp("Add many keys, one per line, from stdin or --file.", valueName: "PROVIDER"))
    var addBulk: String?

    @Option(name: .customLong("update-key"), parsing: .upToNextOption,
            help: ArgumentHelp("Replace key number NUM; KEY - reads it from stdin.", valueName: "PROVIDER NUM KEY"))
    var updateKey: [String] = []

    @Option(name: .customLong("delete-key"), parsing: .upToNextOption,
            help: ArgumentHelp("Delete key number NUM (numbers are never reused).", valueName: "PROVIDER NUM"))
    var deleteKey: [String] = []

    @Option(name: .customLong("delete-provider"),
            help: ArgumentHelp("Delete a provider and all its keys (asks first; --yes without a terminal).", valueName: "NAME"))
    var deleteProvider: String?

    @Flag(name: .customLong("migrate"), help: "Apply the database migrations that are not applied yet.")
    var migrate = false

    @Option(name: .customLong("get-key"), parsing: .upToNextOption,
            help: ArgumentHelp("Print key number NUM alone on its line.", valueName: "PROVIDER NUM"))
    var getKey: [String] = []

    @Option(name: .customLong("random-key"),
            help: ArgumentHelp("Print a uniformly random key alone on its line.", valueName: "PROVIDER"))
    var randomKey: String?

    @Option(name: .customLong("file"), help: ArgumentHelp("With --add-bulk: read the keys from this file.", valueName: "PATH"))
    var file: String?

    @Flag(name: .customLong("dry-run"), help: "With --migrate: list what would be applied, change nothing.")
    var dryRun = false

    @Flag(name: .customLong("yes"), help: "Do not ask for confirmation (--delete-provider).")
    var yes = false

    @OptionGroup(title: "Connection")
    var connection: ConnectionOptions

    @OptionGroup(title: "Output")
    var output: OutputOptions

    /// Refuses bad combinations and values before any I/O, as usage errors.
    func validate() throws {
        _ = try command()
    }

    /// The one command this invocation asks for.
    func command() throws -> Command {
        var given: [String] = []
        if list { given.append("--list") }
        if addProvider != nil { given.append("--add-provider") }
        if !addKey.isEmpty { given.append("--add-key") }
        if addBulk != nil { given.append("--add-bulk") }
        if !updateKey.isEmpty { given.append("--update-key") }
        if !deleteKey.isEmpty { given.append("--delete-key") }
        if deleteProvider != nil { given.append("--delete-provider") }
        if migrate { given.append("--migrate") }
        if !getKey.isEmpty { given.append("--get-key") }
        if randomKey != nil { given.append("--random-key") }
        guard given.count <= 1 else {
            throw ValidationError("one command at a time: \(given.joined(separator: " and ")) were both given")
        }
        guard let chosen = given.first else {
            throw ValidationError("no command given, such as --list or --add-provider NAME")
        }
        try refuse("--provider", given: provider != nil, unless: chosen == "--list")
        try refuse("--reveal", given: output.reveal, unless: chosen == "--list")
        try refuse("--file", given: file != nil, unless: chosen == "--add-bulk")
        try refuse("--dry-run", given: dryRun, unless: chosen == "--migrate")
        return try resolve(chosen)
    }

    private func resolve(_ chosen: String) throws -> Command {
        switch chosen {
        case "--list": return .list(provider: try provider.map(providerName))
        case "--add-provider": return .addProvider(try providerName(addProvider!))
        case "--add-key":
            let values = try arguments(addKey, of: chosen, names: ["PROVIDER", "KEY"])
            return .addKey(try providerName(values[0]), KeyInput(values[1]))
        case "--add-bulk":
            return .addBulk(try providerName(addBulk!), file: file)
        case "--update-key":
            let values = try arguments(updateKey, of: chosen, names: ["PROVIDER", "NUM", "KEY"])
            return .updateKey(try providerName(values[0]), number: try keyNumber(values[1]), KeyInput(values[2]))
        case "--delete-key":
            let values = try arguments(deleteKey, of: chosen, names: ["PROVIDER", "NUM"])
            return .deleteKey(try providerName(values[0]), number: try keyNumber(values[1]))
        case "--delete-provider": return .deleteProvider(try providerName(deleteProvider!), confirmed: yes)
        case "--migrate": return .migrate(dryRun: dryRun)
        case "--get-key":
            let values = try arguments(getKey, of: chosen, names: ["PROVIDER", "NUM"])
            return .getKey(try providerName(values[0]), number: try keyNumber(values[1]))
        default: return .randomKey(try providerName(randomKey!))
        }
    }

    private func refuse(_ option: String, given: Bool, unless allowed: Bool) throws {
        if given, !allowed { throw ValidationError("\(option) does not apply to this command") }
    }

    private func arguments(_ values: [String], of option: String, names: [String]) throws -> [String] {
        guard values.count == names.count else {
            let expected = names.joined(separator: " ")
            let problem = values.count < names.count ? "is missing \(names[values.count])" : "takes only \(expected)"
            throw ValidationError("\(option) \(problem) (usage: keyadmin \(option) \(expected))")
        }
        return values
    }

    private func providerName(_ text: String) throws -> ProviderName {
        do { return try ProviderName(validating: text) } catch { throw ValidationError(error.oneLine) }
    }

    private func keyNumber(_ text: String) throws -> Int {
        guard let number = Int32(text.trimmingCharacters(in: " "), radix: 10), number > 0 else {
            let shown = text.count > 20 ? String(text.prefix(20)) + "…" : text
            throw ValidationError("key number \"\(shown)\" is not a whole number from 1 to 2147483647")
        }
        return Int(number)
    }
}

struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("database-url"),
            help: ArgumentHelp("PostgreSQL connection string (URI or key=value).", valueName: "URL"))
    var databaseURL: String?

    @Option(name: .customLong("lock-timeout"),
            help: ArgumentHelp("Seconds to wait for another operator's lock (default 5).", valueName: "SECONDS"))
    var lockTimeoutSeconds: Double = 5

    @Option(name: .customLong("statement-timeout"),
            help: ArgumentHelp("Seconds one statement may run (default 60).", valueName: "SECONDS"))
    var statementTimeoutSeconds: Double = 60

    func validate() throws {
        guard (0.001...86_400).contains(lockTimeoutSeconds), (0.001...86_400).contains(statementTimeoutSeconds) else {
            throw ValidationError("timeouts are seconds from 0.001 to 86400")
        }
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .customLong("json"), help: "Print the result as JSON.")
    var json = false

    @Flag(name: .customLong("reveal"), help: "With --list: show whole keys instead of masked ones.")
    var reveal = false
}

/// A KEY argument: the key itself, or `-` for "read it from stdin".
enum KeyInput: Equatable {
    case argument(String)
    case standardInput

    init(_ text: String) {
        self = text == "-" ? .standardInput : .argument(text)
    }
}

enum Command: Equatable {
    case list(provider: ProviderName?)
    case addProvider(ProviderName)
    case addKey(ProviderName, KeyInput)
    case addBulk(ProviderName, file: String?)
    case updateKey(ProviderName, number: Int, KeyInput)
    case deleteKey(ProviderName, number: Int)
    case deleteProvider(ProviderName, confirmed: Bool)
    case migrate(dryRun: Bool)
    case getKey(ProviderName, number: Int)
    case randomKey(ProviderName)
}

extension KeyStoreError {
    /// The message and its hint as one line: "no provider named "x" (see keyadmin --list)".
    var oneLine: String {
        hint.map { "\(message) (\($0))" } ?? message
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}
