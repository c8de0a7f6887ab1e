import KeyStore

/// Standard input as a terminal: prompts, hidden input and confirmations.
enum Terminal {
    static var inputIsTerminal: Bool { isTerminal(Descriptor.standardInput) }

    /// Reads lines with echo off, so keys pasted at the prompt appear neither on screen nor in
    /// the scrollback: one line, or (`untilEndOfInput`) every line until Ctrl-D or two empty
    /// lines in a row, so that a paste with a blank line in it is read whole.
    static func readHiddenLines(prompt: String, untilEndOfInput: Bool) -> [String] {
        // Echo goes off before the prompt appears, so nothing typed or pasted at once is shown.
        let restore = turnEchoOff()
        BufferedOutput.standardError.write(prompt)
        BufferedOutput.standardError.flush()
        defer {
            restore()
            BufferedOutput.standardError.line("")
            BufferedOutput.standardError.flush()
        }
        var lines: [String] = []
        var previousWasEmpty = false
        while let line = readLine(strippingNewline: true) {
            let isEmpty = line.allSatisfy(\.isWhitespace)
            if !untilEndOfInput {
                if isEmpty { break }
                return [line]
            }
            if isEmpty && previousWasEmpty { break }
            previousWasEmpty = isEmpty
            lines.append(line)
        }
        return lines
    }

    /// Asks a question on stderr and reads one line of answer from the terminal.
    static func ask(_ question: String) -> String? {
        BufferedOutput.standardError.write(question)
        BufferedOutput.standardError.flush()
        return readLine(strippingNewline: true)
    }
}
