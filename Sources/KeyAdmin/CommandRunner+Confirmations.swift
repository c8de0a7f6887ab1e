import KeyStore

/// What is asked before a delete, on a terminal and without --yes.
extension CommandRunner {
    /// On a terminal without --yes, shows the key (masked) and asks; returns the key confirmed,
    /// so that only that key is deleted. Elsewhere there is nobody to ask: `nil`.
    func confirmKeyDeletion(number: Int, of name: ProviderName) throws(KeyStoreError) -> APIKey? {
        guard !invocation.assumeYes, Terminal.inputIsTerminal else { return nil }
        let key = try store.storedKey(number: number, of: name)
        let answer = Terminal.ask("Delete key #\(number) of \(name) (\(key.masked)) in \(target.address)? [y/N] ")
        guard let answer, ["y", "yes"].contains(answer.trimmingASCIIWhitespace().lowercased()) else {
            throw .invalidInput("not confirmed; nothing was deleted", hint: nil)
        }
        return key
    }

    func confirmProviderDeletion(of name: ProviderName) throws(KeyStoreError) {
        if invocation.assumeYes { return }
        guard Terminal.inputIsTerminal else {
            throw .invalidInput(
                "--delete-provider deletes every key of \(name) and needs confirmation",
                hint: "add --yes to confirm when not on a terminal")
        }
        guard let count = try store.keyCount(of: name) else { throw .providerNotFound(name) }
        let answer = Terminal.ask(
            "This deletes provider \(name) and its \(count) key\(count == 1 ? "" : "s") in \(target.address). Type the provider's name to confirm: "
        )
        guard answer?.trimmingASCIIWhitespace() == name.rawValue else {
            throw .invalidInput("the name typed did not match; nothing was deleted", hint: nil)
        }
    }
}
