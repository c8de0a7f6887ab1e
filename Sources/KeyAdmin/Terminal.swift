import KeyStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard input as a terminal: prompts, hidden input and confirmations.
enum Terminal {
    static var inputIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    /// Reads lines with echo off, so keys pasted at the prompt appear neither on screen nor in
    /// the scrollback: one line, or (`untilEndOfInput`) every line until Ctrl-D or two empty
    /// lines in a row, so that a paste with a blank line in it is read whole.
    static func readHiddenLines(prompt: String, untilEndOfInput: Bool) -> [String] {
        // Echo goes off before the prompt appears, so nothing typed or pasted at once is shown.
        let restore = turnEchoOff()
        OutputStream.standardError.write(prompt)
        OutputStream.standardError.flush()
        defer {
            restore()
            OutputStream.standardError.line("")
            OutputStream.standardError.flush()
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
        OutputStream.standardError.write(question)
        OutputStream.standardError.flush()
        return readLine(strippingNewline: true)
    }

    /// Turns echo off and returns what turns it back on; Ctrl-C meanwhile restores it too.
    private static func turnEchoOff() -> () -> Void {
        var settings = termios()
        guard tcgetattr(STDIN_FILENO, &settings) == 0 else { return {} }
        var saved = settings
        settings.c_lflag &= ~tcflag_t(ECHO)
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings) == 0 else { return {} }
        Interrupts.terminalToRestore = saved
        return {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            Interrupts.terminalToRestore = nil
        }
    }
}
