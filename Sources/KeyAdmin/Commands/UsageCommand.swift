import KeyStore

/// `--usage [PROVIDER] [--provider NAME] [--key NUM] [--account NAME] [--days N]`: requests per day by outcome,
/// drawn as a chart, then the busiest keys and accounts and what is exhausted now. Numbers,
/// names and fingerprints only: never a key.
struct UsageCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.optionalProvider], help: "requests per day by outcome, as a chart, and the busiest keys and accounts",
        writes: false,
        example: "keyadmin --usage gemini --days 30"
    ) { values, modifiers throws(UsageError) in
        let given = try values.optionalProvider()
        let option = try modifiers.provider()
        if given != nil, option != nil {
            throw UsageError("name the provider once: as PROVIDER or with --provider", usage: modifiers.command.usage)
        }
        var filter = UsageFilter(provider: given ?? option)
        if let days = try modifiers.wholeNumber(.days, in: UsageFilter.dayRange) { filter.days = days }
        if let text = modifiers.values[.keyNumber] {
            filter.keyNumber = try CommandValues.keyNumber(text, usage: modifiers.command.usage)
        }
        filter.account = try modifiers.account()
        if filter.provider == nil, filter.keyNumber != nil || filter.account != nil {
            throw UsageError("--key and --account need the provider they belong to", usage: modifiers.command.usage)
        }
        return UsageCommand(filter: filter)
    }

    let filter: UsageFilter

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let report = try context.store.usage(filter)
        return .streamed { stream in
            stream.open()
            if let json = stream.json {
                UsageJSONRenderer(json: json).render(report, filter: filter)
            } else {
                let chart = UsageChart(
                    glyphs: .forLocale(environmentVariable), colour: stream.usesColour,
                    width: terminalColumns(Descriptor.standardOutput)
                        ?? environmentVariable("COLUMNS").flatMap { Int($0) } ?? 80)
                for line in UsageTextRenderer(chart: chart).lines(report, filter: filter) { stream.line(line) }
            }
        }
    }
}
