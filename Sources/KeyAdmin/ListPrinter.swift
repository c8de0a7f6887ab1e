import KeyStore

/// `--list`: an aligned table per provider, or one JSON document, written while the keys stream
/// in from the server (memory stays flat for any number of keys).
struct ListPrinter {
    let json: Bool
    let reveal: Bool
    let out: OutputStream
    let database: DatabaseTarget

    func print(store: KeyStore, provider: ProviderName?) throws(KeyStoreError) {
        var layout = Layout(json: json, reveal: reveal, out: out, colour: out.usesColour && !json)
        try store.list(
            provider: provider,
            summaries: { summaries in
                // Written once the provider is known to exist (stdout is held under --json anyway).
                if json {
                    out.write(
                        "{\"database\":\(JSON.string(database.address)),\"database_source\":\(JSON.string(database.source)),\"providers\":["
                    )
                } else {
                    out.line(Style.dim.apply("database: \(database.label)", when: out.usesColour))
                }
                layout.pending = summaries[...]
                if summaries.isEmpty, !json {
                    out.line("no providers yet; add one with keyadmin --add-provider NAME")
                }
            },
            key: { key in
                // Keys arrive ordered by provider; providers without keys have no rows and are
                // printed when the rows pass them.
                while layout.current?.name != key.provider, layout.openNextProvider() {}
                layout.printKey(key)
            })
        while layout.openNextProvider() {}
        layout.closeProvider()
        if json { out.line("]}") }
    }
}

private struct Layout {
    let json: Bool
    let reveal: Bool
    let out: OutputStream
    let colour: Bool
    var pending: ArraySlice<ProviderSummary> = []
    private(set) var current: ProviderSummary?
    private var providersPrinted = 0
    private var keysPrinted = 0
    private var numberWidth = 2
    private var keyWidth = 10

    init(json: Bool, reveal: Bool, out: OutputStream, colour: Bool) {
        self.json = json
        self.reveal = reveal
        self.out = out
        self.colour = colour
    }

    /// Ends the provider being printed and starts the next; `false` when none is left.
    mutating func openNextProvider() -> Bool {
        guard let next = pending.popFirst() else { return false }
        closeProvider()
        current = next
        keysPrinted = 0
        defer { providersPrinted += 1 }
        if json {
            out.write(providersPrinted > 0 ? "," : "")
            out.write(
                "{\"provider\":\(JSON.string(next.name)),\"key_count\":\(next.keyCount),\"created_at\":\(JSON.string(next.createdAt)),\"keys\":["
            )
            return true
        }
        if providersPrinted > 0 { out.line("") }
        let count = "\(next.keyCount) key\(next.keyCount == 1 ? "" : "s")"
        out.line(Style.bold.apply(next.name, when: colour) + "  " + Style.dim.apply("(\(count))", when: colour))
        numberWidth = String(next.highestNumber).count + 1
        keyWidth = reveal ? max(3, next.longestKey) : 10
        if next.keyCount == 0 {
            out.line("  no keys; add some with keyadmin --add-bulk \(next.name)")
        } else {
            out.line(
                Style.dim.apply(
                    "  " + pad("#", numberWidth, right: true) + "  " + pad("key", keyWidth) + "  created", when: colour)
            )
        }
        return true
    }

    mutating func closeProvider() {
        if json, current != nil { out.write("]}") }
        current = nil
    }

    mutating func printKey(_ key: StoredKey) {
        let shown = reveal ? key.key.revealed : key.key.masked
        if json {
            out.write(keysPrinted > 0 ? "," : "")
            out.write(
                "{\"number\":\(key.number),\"key\":\(JSON.string(shown)),\"created_at\":\(JSON.string(key.createdAt))}")
        } else {
            out.line(
                "  " + pad("#\(key.number)", numberWidth, right: true) + "  " + pad(shown, keyWidth) + "  "
                    + key.createdAt)
        }
        keysPrinted += 1
    }

    /// Widths in Unicode scalars: keys are ASCII and the mask's "…" is one scalar, and counting
    /// grapheme clusters for every row of a long listing costs more than the rest of it.
    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.unicodeScalars.count))
        return right ? padding + text : text + padding
    }
}
