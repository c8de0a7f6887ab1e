import KeyStore

/// What one run of `keyadmin` was asked to do: the command and the options that go with it.
///
/// The command line keeps the seed's spellings (`--add-key PROVIDER KEY`: options that take
/// several values), which is why this is a small table-driven parser rather than a general
/// one: it also starts in microseconds, where reflection-based parsing cost about 40% of a
/// whole `--get-key` process (measured with callgrind), and backends may run that per request.
struct Invocation {
    /// Which command, for what the table says about it (whether it writes, its usage).
    var name: CommandName
    /// Its handler, built from the checked values.
    var command: any KeyAdminCommand
    var connection = ConnectionOptions()
    var output = OutputOptions()
    /// `--yes`: nothing is asked.
    var assumeYes = false
    /// `--actor`: who runs the command, for the record; `nil` means the default.
    var actor: OperatorText?

    /// Who runs the command, for the record: --actor, else KEYADMIN_ACTOR, else user@host.
    func resolveActor() throws(UsageError) -> OperatorText {
        if let actor { return actor }
        return try OperatorIdentity.fromEnvironment()
    }

    enum Request {
        case run(Invocation)
        /// `--help`: with a command (`--add-key --help`), that command's help alone.
        case help(CommandName?)
        /// `--version`, and whether `--json` was given with it.
        case version(json: Bool)
    }

    /// Parses the arguments (without the program name). Usage mistakes throw `UsageError`
    /// before any I/O happens. A value is never an argument that starts with `-` (except `-`
    /// itself, "standard input"), so `--add-provider -h` is help, not a provider named -h.
    static func parse(_ arguments: [String]) throws(UsageError) -> Request {
        if arguments.isEmpty || arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
            return .help(arguments.lazy.compactMap { CommandName(rawValue: $0) }.first)
        }
        if arguments.contains("--version") { return .version(json: arguments.contains("--json")) }
        // For messages about a value that is missing or misplaced: the command's usage.
        let named = arguments.lazy.compactMap { CommandName(rawValue: $0) }.first
        var commands: [(CommandName, [String])] = []
        var modifiers: [Modifier: String] = [:]
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            var name = argument
            var inline: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            if let command = CommandName(rawValue: name) {
                let valueNames = command.entry.values.map(\.name)
                if inline != nil {
                    throw UsageError("\(command.rawValue) does not take =VALUE", usage: command.usage)
                }
                let values = try takeValues(valueNames, for: command.rawValue, from: &remaining, usage: command.usage)
                commands.append((command, values))
            } else if let modifier = Modifier(rawValue: name) {
                if modifiers[modifier] != nil { throw UsageError("\(modifier.rawValue) was given twice") }
                let usage = named?.usage ?? modifier.usage
                if let valueName = modifier.valueName {
                    if let inline {
                        modifiers[modifier] = inline
                    } else {
                        modifiers[modifier] = try takeValues(
                            [valueName], for: modifier.rawValue, from: &remaining, usage: usage)[0]
                    }
                } else if inline != nil {
                    throw UsageError("\(modifier.rawValue) does not take =VALUE", usage: usage)
                } else {
                    modifiers[modifier] = ""
                }
            } else if argument.hasPrefix("-") && argument != "-" {
                throw UsageError(unknownOption(name))
            } else if KeyShape.looksLikeKey(argument) {
                throw UsageError(
                    KeyShape.misplacedKeyError(expected: "a value this command takes").oneLine, usage: named?.usage)
            } else if let named {
                throw UsageError(tooManyValues(for: named, extra: argument), usage: named.usage)
            } else {
                throw UsageError("an argument is not an option; options start with --, such as --list")
            }
        }
        guard commands.count <= 1 else {
            throw UsageError(
                "one command at a time: \(commands.map(\.0.rawValue).joined(separator: " and ")) were both given")
        }
        guard let (command, values) = commands.first else {
            throw UsageError("no command given, such as --list or --add-provider NAME")
        }
        return .run(try Invocation(command: command, values: values, modifiers: modifiers))
    }

    private init(command name: CommandName, values: [String], modifiers given: [Modifier: String]) throws(UsageError) {
        for modifier in given.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            if let allowed = modifier.commands, !allowed.contains(name) {
                let list = allowed.map(\.rawValue)
                let joined =
                    list.count == 1 ? list[0] : list.dropLast().joined(separator: ", ") + " or " + list[list.count - 1]
                throw UsageError("\(modifier.rawValue) goes with \(joined), not with \(name.rawValue)")
            }
        }
        self.name = name
        let modifiers = ParsedModifiers(command: name, values: given)
        var cursor = CommandValues(command: name, remaining: values[...])
        command = try name.entry.build(&cursor, modifiers)
        if command is any StandaloneCommand, modifiers.has(.json) {
            throw UsageError("\(name.rawValue) prints a script as it is: --json does not go with it", usage: name.usage)
        }
        connection.databaseURL = try modifiers.databaseURL()
        connection.lockTimeout = try modifiers.duration(.lockTimeout, default: connection.lockTimeout)
        connection.statementTimeout = try modifiers.duration(.statementTimeout, default: connection.statementTimeout)
        output.json = modifiers.has(.json)
        assumeYes = modifiers.has(.yes)
        actor = try modifiers.actor()
    }

    /// The values an option takes, in order. A value may be `-` (stdin) but never start with
    /// `-` otherwise: that is an option, or a mistake.
    private static func takeValues(
        _ names: [String], for option: String, from remaining: inout ArraySlice<String>, usage: String
    ) throws(UsageError) -> [String] {
        var taken: [String] = []
        for valueName in names {
            // "[PROVIDER]": taken when the next argument is a value, left out otherwise.
            if valueName.hasPrefix("["), remaining.first.map({ $0 != "-" && $0.hasPrefix("-") }) ?? true {
                taken.append("")
                continue
            }
            guard let value = remaining.first, value == "-" || !value.hasPrefix("-") else {
                let reason = remaining.first == nil ? "" : "; a value does not start with -"
                throw UsageError("\(option) is missing \(valueName)\(reason)", usage: usage)
            }
            taken.append(value)
            remaining.removeFirst()
        }
        return taken
    }

    /// "too many values for --list; did you mean --provider openai?": a value where an option
    /// was meant. The value is quoted only when it is a valid provider name.
    static func tooManyValues(for command: CommandName, extra: String) -> String {
        let message = "too many values for \(command.rawValue)"
        if command.modifiers.contains(.file) { return message + "; give the file with --file PATH" }
        if command.modifiers.contains(.provider), let name = try? ProviderName(validating: extra) {
            return message + "; did you mean --provider \(name)?"
        }
        return message
    }

    /// "unknown option --lis (did you mean --list?)". The text is shown only when it has the
    /// shape of an option name: anything else may be a key with a dash in front.
    static func unknownOption(_ text: String) -> String {
        let spellings =
            CommandName.allCases.map(\.rawValue) + Modifier.allCases.map(\.rawValue) + ["--help", "--version"]
        // "--sk-proj-..." is a key with dashes in front: look at it without them.
        let bare = String(text.drop { $0 == "-" })
        let showable =
            text.count <= 40 && !KeyShape.looksLikeKey(bare)
            && !KeyShape.knownPrefixes.contains(where: { bare.lowercased().hasPrefix($0.lowercased()) })
            && text.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
            }
        guard showable else { return "unknown option (see keyadmin --help)" }
        // "-list" and "--List" are near misses too.
        let typed = text.hasPrefix("--") ? text.lowercased() : "-" + text.lowercased()
        if let closest = Suggestion.closest(to: typed, among: spellings) {
            return "unknown option \(text) (did you mean \(closest)?)"
        }
        return "unknown option \(text) (see keyadmin --help)"
    }
}

/// A usage mistake: one line, with the usage that fixes it when there is one.
struct UsageError: Error, Equatable, CustomStringConvertible {
    let description: String

    init(_ message: String, usage: String? = nil) {
        description = usage.map { "\(message) (usage: keyadmin \($0))" } ?? message
    }
}

struct ConnectionOptions: Equatable {
    var databaseURL: String?
    var lockTimeout: Duration = .seconds(5)
    var statementTimeout: Duration = .seconds(60)
}

struct OutputOptions: Equatable {
    var json = false
}
