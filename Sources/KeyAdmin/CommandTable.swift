import KeyCheck
import KeyStore

/// Every command: its values, the options that go with it, its help, and how it is built from
/// them, in one entry each. The switches are exhaustive, so a new command does not compile
/// until every one of these is written for it.
enum CommandName: String, CaseIterable {
    case list = "--list"
    case addProvider = "--add-provider"
    case addKey = "--add-key"
    case addBulk = "--add-bulk"
    case updateKey = "--update-key"
    case deleteKey = "--delete-key"
    case deleteProvider = "--delete-provider"
    case migrate = "--migrate"
    case getKey = "--get-key"
    case randomKey = "--random-key"
    case disableKey = "--disable-key"
    case enableKey = "--enable-key"
    case setLabel = "--set-label"
    case setExpiry = "--set-expiry"
    case setTier = "--set-tier"
    case setWeight = "--set-weight"
    case setEndpoint = "--set-endpoint"
    case check = "--check"
    case history = "--history"
    case pruneHistory = "--prune-history"
    case doctor = "--doctor"
    case completions = "--completions"

    var entry: CommandEntry {
        switch self {
        case .list: ListCommand.entry
        case .addProvider: AddProviderCommand.entry
        case .addKey: AddKeyCommand.entry
        case .addBulk: AddBulkCommand.entry
        case .updateKey: UpdateKeyCommand.entry
        case .deleteKey: DeleteKeyCommand.entry
        case .deleteProvider: DeleteProviderCommand.entry
        case .migrate: MigrateCommand.entry
        case .getKey: GetKeyCommand.entry
        case .randomKey: RandomKeyCommand.entry
        case .disableKey: DisableKeyCommand.entry
        case .enableKey: EnableKeyCommand.entry
        case .setLabel: SetLabelCommand.entry
        case .setExpiry: SetExpiryCommand.entry
        case .setTier: SetTierCommand.entry
        case .setWeight: SetWeightCommand.entry
        case .setEndpoint: SetEndpointCommand.entry
        case .check: CheckCommand.entry
        case .history: HistoryCommand.entry
        case .pruneHistory: PruneHistoryCommand.entry
        case .doctor: DoctorCommand.entry
        case .completions: CompletionsCommand.entry
        }
    }

    var modifiers: [Modifier] { Modifier.allCases.filter { $0.commands?.contains(self) ?? false } }

    /// Options this command cannot do without.
    var requiredModifiers: [Modifier] { self == .pruneHistory ? [.before] : [] }

    /// "--add-key PROVIDER KEY [--number NUM] [--force]"
    var usage: String {
        let options = modifiers.map { requiredModifiers.contains($0) ? $0.usage : "[\($0.usage)]" }
        return ([rawValue] + entry.values.map(\.name) + options).joined(separator: " ")
    }
}

/// What one run of `keyadmin` does, checked and typed.
enum Command: Equatable {
    case list(provider: ProviderName?, reveal: Bool, state: KeyState?, summary: Bool)
    case addProvider(ProviderName)
    case addKey(ProviderName, KeyInput, number: Int?, force: Bool, options: NewKeyOptions)
    case addBulk(ProviderName, from: BulkSource, force: Bool, options: NewKeyOptions)
    case updateKey(ProviderName, number: Int, KeyInput, force: Bool)
    case deleteKey(ProviderName, number: Int)
    case deleteProvider(ProviderName)
    case migrate(dryRun: Bool)
    case getKey(ProviderName, number: Int)
    case randomKey(ProviderName)
    case disableKey(ProviderName, number: Int, reason: OperatorText?)
    case enableKey(ProviderName, number: Int)
    case setLabel(ProviderName, number: Int, OperatorText)
    case setExpiry(ProviderName, number: Int, Expiry)
    case setTier(ProviderName, number: Int, KeyTier)
    case setWeight(ProviderName, number: Int, KeyWeight)
    /// `nil`: back to the built-in endpoint.
    case setEndpoint(ProviderName, ProviderEndpoint?)
    case check(ProviderName, CheckOptions)
    case history(HistoryFilter)
    case pruneHistory(before: UTCTime)
    case doctor(strict: Bool)
    case completions(Shell)
}

extension Command {
    var name: CommandName {
        switch self {
        case .list: .list
        case .addProvider: .addProvider
        case .addKey: .addKey
        case .addBulk: .addBulk
        case .updateKey: .updateKey
        case .deleteKey: .deleteKey
        case .deleteProvider: .deleteProvider
        case .migrate: .migrate
        case .getKey: .getKey
        case .randomKey: .randomKey
        case .disableKey: .disableKey
        case .enableKey: .enableKey
        case .setLabel: .setLabel
        case .setExpiry: .setExpiry
        case .setTier: .setTier
        case .setWeight: .setWeight
        case .setEndpoint: .setEndpoint
        case .check: .check
        case .history: .history
        case .pruneHistory: .pruneHistory
        case .doctor: .doctor
        case .completions: .completions
        }
    }

    /// Whether the command changes data (see `CommandEntry.writes`).
    var writes: Bool { name.entry.writes }

    /// Runs the command's handler: one per command, each in its own file under Commands/.
    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        switch self {
        case .list(let provider, let reveal, let state, let summary):
            try ListCommand(provider: provider, reveal: reveal, state: state, summary: summary).run(context)
        case .addProvider(let name):
            try AddProviderCommand(name: name).run(context)
        case .addKey(let name, let input, let number, let force, let options):
            try AddKeyCommand(name: name, input: input, number: number, force: force, options: options).run(context)
        case .addBulk(let name, let source, let force, let options):
            try AddBulkCommand(name: name, source: source, force: force, options: options).run(context)
        case .updateKey(let name, let number, let input, let force):
            try UpdateKeyCommand(name: name, number: number, input: input, force: force).run(context)
        case .deleteKey(let name, let number):
            try DeleteKeyCommand(name: name, number: number).run(context)
        case .deleteProvider(let name):
            try DeleteProviderCommand(name: name).run(context)
        case .migrate(let dryRun):
            try MigrateCommand(dryRun: dryRun).run(context)
        case .getKey(let name, let number):
            try GetKeyCommand(name: name, number: number).run(context)
        case .randomKey(let name):
            try RandomKeyCommand(name: name).run(context)
        case .disableKey(let name, let number, let reason):
            try DisableKeyCommand(name: name, number: number, reason: reason).run(context)
        case .enableKey(let name, let number):
            try EnableKeyCommand(name: name, number: number).run(context)
        case .setLabel(let name, let number, let label):
            try SetLabelCommand(name: name, number: number, label: label).run(context)
        case .setExpiry(let name, let number, let expiry):
            try SetExpiryCommand(name: name, number: number, expiry: expiry).run(context)
        case .setTier(let name, let number, let tier):
            try SetTierCommand(name: name, number: number, tier: tier).run(context)
        case .setWeight(let name, let number, let weight):
            try SetWeightCommand(name: name, number: number, weight: weight).run(context)
        case .setEndpoint(let name, let endpoint):
            try SetEndpointCommand(name: name, endpoint: endpoint).run(context)
        case .check(let name, let options):
            try CheckCommand(name: name, options: options).run(context)
        case .history(let filter):
            try HistoryCommand(filter: filter).run(context)
        case .pruneHistory(let before):
            try PruneHistoryCommand(before: before).run(context)
        case .doctor(let strict):
            try DoctorCommand(strict: strict).run(context)
        case .completions(let shell):
            // Printed before any database is looked for; here only for a caller that has one.
            CommandResult(body: .report(lines: [CompletionsCommand(shell: shell).script], members: []))
        }
    }
}

enum BulkSource: Equatable {
    case standardInput
    case file(String)
}

enum Shell: String, CaseIterable {
    case bash, zsh, fish
}

/// A KEY argument: the key itself (checked while parsing, before any I/O), or `-` for "read it
/// from stdin".
enum KeyInput: Equatable {
    case argument(APIKey)
    case standardInput
}
