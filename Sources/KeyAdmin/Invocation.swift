import KeyStore

/// What one run of `keyadmin` was asked to do: the command and the options that go with it.
///
/// The command line keeps the seed's spellings (`--add-key PROVIDER KEY`: options that take
/// several values), which is why this is a small table-driven parser rather than a general
/// one: it also starts in microseconds, where reflection-based parsing cost about 40% of a
/// whole `--get-key` process (measured with callgrind), and backends may run that per request.
struct Invocation: Equatable {
    var command: Command
    var connection = ConnectionOptions()
    var output = OutputOptions()

    enum Request: Equatable {
        case run(Invocation)
        case help
        case version
    }

    /// Parses the arguments (without the program name). Usage mistakes throw `UsageError`
    /// before any I/O happens.
    static func parse(_ arguments: [String]) throws(UsageError) -> Request {
        var values: [Option: [String]] = [:]
        var order: [Option] = []
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "--help" || argument == "-h" { return .help }
            if argument == "--version" { return .version }
            var name = argument
            var inline: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            guard let option = Option(rawValue: name) else {
                if argument.hasPrefix("-") && argument != "-" {
                    throw UsageError("unknown option \(Self.shown(name))")
                }
                throw UsageError("unexpected argument \(Self.shown(argument)); options start with --, such as --list")
            }
            var taken: [String] = []
            if let inline {
                guard option.valueNames.count == 1 else {
                    throw UsageError("\(option.rawValue) does not take =VALUE; write \(option.usage)")
                }
                taken = [inline]
            } else {
                for valueName in option.valueNames {
                    // A value may begin with "-" (a key from stdin is "-"), but not be one of our options.
                    guard let value = remaining.first, Option(rawValue: value) == nil, value != "--help" else {
                        throw UsageError("\(option.rawValue) is missing \(valueName) (usage: keyadmin \(option.usage))")
                    }
                    taken.append(value)
                    remaining.removeFirst()
                }
            }
            if values[option] != nil {
                throw UsageError("\(option.rawValue) was given twice")
            }
            values[option] = taken
            order.append(option)
        }
        return .run(try Invocation(values: values, order: order))
    }

    private init(values: [Option: [String]], order: [Option]) throws(UsageError) {
        let commands = order.filter(\.isCommand)
        guard commands.count <= 1 else {
            throw UsageError("one command at a time: \(commands.map(\.rawValue).joined(separator: " and ")) were both given")
        }
        guard let chosen = commands.first else {
            throw UsageError("no command given, such as --list or --add-provider NAME")
        }
        for option in order where !option.isCommand {
            if let allowed = option.onlyWith, allowed != chosen {
                throw UsageError("\(option.rawValue) goes with \(allowed.rawValue), not with \(chosen.rawValue)")
            }
        }
        let arguments = values[chosen] ?? []
        func value(_ option: Option) -> String? { values[option]?.first }

        switch chosen {
        case .list: command = .list(provider: try value(.provider).map(Self.providerName))
        case .addProvider: command = .addProvider(try Self.providerName(arguments[0]))
        case .addKey: command = .addKey(try Self.providerName(arguments[0]), try KeyInput(arguments[1]))
        case .addBulk: command = .addBulk(try Self.providerName(arguments[0]), file: value(.file))
        case .updateKey:
            command = .updateKey(try Self.providerName(arguments[0]), number: try Self.keyNumber(arguments[1]), try KeyInput(arguments[2]))
        case .deleteKey: command = .deleteKey(try Self.providerName(arguments[0]), number: try Self.keyNumber(arguments[1]))
        case .deleteProvider: command = .deleteProvider(try Self.providerName(arguments[0]), confirmed: values[.yes] != nil)
        case .migrate: command = .migrate(dryRun: values[.dryRun] != nil)
        case .getKey: command = .getKey(try Self.providerName(arguments[0]), number: try Self.keyNumber(arguments[1]))
        default: command = .randomKey(try Self.providerName(arguments[0]))
        }
        connection.databaseURL = value(.databaseURL)
        if let text = value(.lockTimeout) { connection.lockTimeoutSeconds = try Self.seconds(text, option: .lockTimeout) }
        if let text = value(.statementTimeout) {
            connection.statementTimeoutSeconds = try Self.seconds(text, option: .statementTimeout)
        }
        output.json = values[.json] != nil
        output.reveal = values[.reveal] != nil
    }

    private static func providerName(_ text: String) throws(UsageError) -> ProviderName {
        do { return try ProviderName(validating: text) } catch { throw UsageError(error.oneLine) }
    }

    private static func keyNumber(_ text: String) throws(UsageError) -> Int {
        guard let number = Int32(text, radix: 10), number > 0 else {
            throw UsageError("key number \(shown(text)) is not a whole number from 1 to 2147483647")
        }
        return Int(number)
    }

    private static func seconds(_ text: String, option: Option) throws(UsageError) -> Double {
        guard let seconds = Double(text), seconds.isFinite, (0.001...86_400).contains(seconds) else {
            throw UsageError("\(option.rawValue) takes seconds from 0.001 to 86400, not \(shown(text))")
        }
        return seconds
    }

    /// An argument quoted for a message: never long, never with control characters.
    private static func shown(_ text: String) -> String {
        let visible = text.unicodeScalars.prefix(24).map { (0x20..<0x7F).contains($0.value) ? String($0) : "?" }.joined()
        return "\"\(visible)\(text.unicodeScalars.count > 24 ? "…" : "")\""
    }
}

struct UsageError: Error, Equatable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct ConnectionOptions: Equatable {
    var databaseURL: String?
    var lockTimeoutSeconds: Double = 5
    var statementTimeoutSeconds: Double = 60
}

struct OutputOptions: Equatable {
    var json = false
    var reveal = false
}

/// A KEY argument: the key itself (checked while parsing, before any I/O), or `-` for "read it
/// from stdin".
enum KeyInput: Equatable {
    case argument(APIKey)
    case standardInput

    init(_ text: String) throws(UsageError) {
        if text == "-" {
            self = .standardInput
            return
        }
        do { self = .argument(try APIKey(validating: text)) } catch { throw UsageError(error.oneLine) }
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
