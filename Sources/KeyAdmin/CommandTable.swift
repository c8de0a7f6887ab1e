import KeyCheck
import KeyStore

/// Every command, by its spelling. `entry` is the one switch: a new command is its own file
/// under Commands/ and one line here (the compiler asks for it).
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
    case setAccount = "--set-account"
    case setReset = "--set-reset"
    case setQuota = "--set-quota"
    case check = "--check"
    case history = "--history"
    case pruneHistory = "--prune-history"
    case usage = "--usage"
    case metrics = "--metrics"
    case pruneUsage = "--prune-usage"
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
        case .setAccount: SetAccountCommand.entry
        case .setReset: SetResetCommand.entry
        case .setQuota: SetQuotaCommand.entry
        case .check: CheckCommand.entry
        case .history: HistoryCommand.entry
        case .pruneHistory: PruneHistoryCommand.entry
        case .usage: UsageCommand.entry
        case .metrics: MetricsCommand.entry
        case .pruneUsage: PruneUsageCommand.entry
        case .doctor: DoctorCommand.entry
        case .completions: CompletionsCommand.entry
        }
    }

    var exitStatuses: [ExitStatus] { ExitStatus.possible(for: self) }

    var modifiers: [Modifier] { Modifier.allCases.filter { $0.commands?.contains(self) ?? false } }

    /// Options this command cannot do without.
    var requiredModifiers: [Modifier] { self == .pruneHistory || self == .pruneUsage ? [.before] : [] }

    /// "--add-key PROVIDER KEY [--number NUM] [--force]"
    var usage: String {
        let options = modifiers.map { requiredModifiers.contains($0) ? $0.usage : "[\($0.usage)]" }
        return ([rawValue] + entry.values.map(\.name) + options).joined(separator: " ")
    }
}
