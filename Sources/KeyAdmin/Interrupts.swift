#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ctrl-C and SIGTERM end the process at once: the connection closes, and the server rolls back
/// the transaction under way, so an interrupted command stores nothing. The handler is installed
/// explicitly, and the signals unblocked, because a parent may have left them ignored or blocked
/// (both survive exec), and an operator's Ctrl-C must work.
enum Interrupts {
    /// Terminal settings to put back if the signal arrives while input is hidden.
    nonisolated(unsafe) static var terminalToRestore: termios?

    static func install() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &signals, nil)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                if var settings = Interrupts.terminalToRestore {
                    tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings)
                }
                // Only async-signal-safe calls here: write(2) and _exit(2).
                let message: StaticString = "\nerror: interrupted; the command's transaction was not committed\n"
                message.withUTF8Buffer { buffer in _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count) }
                _exit(128 + received)
            }
        }
    }
}
