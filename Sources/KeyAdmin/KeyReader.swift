import KeyStore

/// A KEY argument, or the key read from standard input (hidden on a terminal).
enum KeyReader {
    static func read(_ input: KeyInput, for name: ProviderName, force: Bool) throws(KeyStoreError) -> APIKey {
        switch input {
        case .argument(let key):
            return key
        case .standardInput:
            if Terminal.inputIsTerminal {
                let lines = Terminal.readHiddenLines(prompt: "Key for \(name) (input hidden): ", untilEndOfInput: false)
                return try APIKey(validating: lines.first ?? "", force: force)
            }
            guard let bytes = readAll(from: Descriptor.standardInput, limit: 64 * 1024) else {
                throw .invalidInput("cannot read the key from standard input", hint: nil)
            }
            // One key, one line: a trailing newline is fine, a second line is not.
            guard !bytes.trimmingTrailingNewlines().contains(0x0A) else {
                throw .invalidInput(
                    "standard input holds more than one line", hint: "give one key, or use --add-bulk for many")
            }
            return try APIKey(validatingBytes: bytes, force: force)
        }
    }
}

extension [UInt8] {
    func trimmingTrailingNewlines() -> ArraySlice<UInt8> {
        var bytes = self[...]
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 {
            bytes = bytes.dropLast()
        }
        return bytes
    }
}

/// A KEY argument: the key itself (checked while parsing, before any I/O), or `-` for "read it
/// from stdin".
enum KeyInput: Equatable {
    case argument(APIKey)
    case standardInput
}
