#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KeyStore

/// Standard input as a terminal: prompts, hidden input and confirmations.
enum Terminal {
    static var inputIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    /// Reads lines with echo off until an empty line (or end of input), so keys pasted at the
    /// prompt appear neither on screen nor in the scrollback.
    static func readHiddenLines(prompt: String, untilEmptyLine: Bool) -> [String] {
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
        while let line = readLine(strippingNewline: true) {
            if line.allSatisfy(\.isWhitespace) { break }
            lines.append(line)
            if !untilEmptyLine { break }
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

