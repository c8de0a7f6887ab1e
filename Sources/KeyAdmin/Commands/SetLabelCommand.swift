import KeyStore

/// `--set-label PROVIDER NUM TEXT` ("" clears it)
struct SetLabelCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider, .number, .text], help: "set the label of key NUM (\"\" clears it)", writes: true,
        example: "keyadmin --set-label openai 3 team-a"
    ) { values, _ throws(UsageError) in
        SetLabelCommand(name: try values.provider(), number: try values.number(), label: try values.label())
    }

    let name: ProviderName
    let number: Int
    let label: OperatorText

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let (key, changed) = try context.store.setLabel(label, number: number, of: name)
        let what = label.rawValue.isEmpty ? "cleared the label of" : "labelled"
        return .keyChange(
            name, number, key, changed: changed,
            text: changed
                ? "\(what) key #\(number) of \(name) (\(key.masked))"
                : "key #\(number) of \(name) (\(key.masked)) already has that label; nothing changed",
            value: JSONMember("label", label.rawValue.isEmpty ? .null : .string(label.rawValue)))
    }
}
