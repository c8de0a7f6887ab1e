import KeyStore

/// `--set-weight PROVIDER NUM WEIGHT`
struct SetWeightCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number, .weight], help: "give key NUM a weight of 1-1000 in its tier (default 1)",
        writes: true,
        example: "keyadmin --set-weight openai 3 5       # drawn five times as often as weight 1"
    ) { values, _ throws(UsageError) in
        SetWeightCommand(name: try values.provider(), number: try values.number(), weight: try values.weight())
    }

    let name: ProviderName
    let number: Int
    let weight: KeyWeight

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, changed) = try context.store.setWeight(weight, number: number, of: name)
        return .keyChange(
            name, number, key, changed: changed,
            text: changed
                ? "key #\(number) of \(name) (\(key.masked)) has weight \(weight) now"
                : "key #\(number) of \(name) (\(key.masked)) has weight \(weight) already; nothing changed",
            value: JSONMember("weight", .number(weight.rawValue)))
    }
}
