// The command line's only contact with the C library: descriptors, the environment, the
// terminal's echo, signals, and the process's exit.
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The three standard descriptors.
enum Descriptor {
    static let standardInput = STDIN_FILENO
    static let standardOutput = STDOUT_FILENO
    static let standardError = STDERR_FILENO
}

func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

/// A variable of the process environment; `nil` when unset or empty.
func environmentVariable(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}

/// Writes all of `bytes`, retrying after interruptions; stops quietly at a closed pipe, where
/// nothing more can be shown.
func writeAll(_ bytes: ArraySlice<UInt8>, to descriptor: Int32) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { raw in
            write(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset)
        }
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += written
    }
}

func exitProcess(_ status: Int32) -> Never { exit(status) }

/// An unlinked temporary file that holds output too large to keep in memory.
final class SpillFile {
    private let file: UnsafeMutablePointer<FILE>

    init?() {
        guard let file = tmpfile() else { return nil }
        self.file = file
    }

    deinit { fclose(file) }

    func append(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    }

    /// Hands everything written so far to `body`, in chunks, from the start.
    func replay(_ body: (ArraySlice<UInt8>) -> Void) {
        fflush(file)
        rewind(file)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { break }
            body(chunk[..<count])
        }
    }
}

/// The user and host names, for the default actor.
func userAndHostName() -> (user: String?, host: String?) {
    let user =
        environmentVariable("USER") ?? environmentVariable("LOGNAME")
        ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let host: String? = buffer.withUnsafeMutableBufferPointer { bytes in
        guard let base = bytes.baseAddress,
            base.withMemoryRebound(to: CChar.self, capacity: bytes.count, { gethostname($0, bytes.count - 1) }) == 0
        else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
    return (user, host)
}

// MARK: - The terminal and signals

/// Terminal settings to put back if a signal arrives while input is hidden.
nonisolated(unsafe) private var terminalToRestore: termios?

/// Turns the terminal's echo off and returns what turns it back on; Ctrl-C meanwhile restores
/// it too.
func turnEchoOff() -> () -> Void {
    var settings = termios()
    guard tcgetattr(STDIN_FILENO, &settings) == 0 else { return {} }
    var saved = settings
    settings.c_lflag &= ~tcflag_t(ECHO)
    guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings) == 0 else { return {} }
    terminalToRestore = saved
    return {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
        terminalToRestore = nil
    }
}

/// Ctrl-C and SIGTERM end the process at once: the connection closes, and the server rolls back
/// the transaction under way, so an interrupted command stores nothing. The handler is installed
/// explicitly, and the signals unblocked, because a parent may have left them ignored or blocked
/// (both survive exec), and an operator's Ctrl-C must work. Exit status 128 + the signal.
func endProcessOnInterrupt() {
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    sigprocmask(SIG_UNBLOCK, &signals, nil)
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber) { received in
            if var settings = terminalToRestore {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings)
            }
            // Only async-signal-safe calls here: write(2) and _exit(2).
            let message: StaticString = "\nerror: interrupted; the command's transaction was not committed\n"
            message.withUTF8Buffer { buffer in _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count) }
            _exit(128 + received)
        }
    }
}

/// The first Ctrl-C or SIGTERM since `stopOnInterrupt()`; 0 for none.
private let interruptReceived = Atomic<Int32>(0)

/// For a command that stops in order (`--check`): the first Ctrl-C or SIGTERM is noted, for
/// `interruptSignal()` to report between steps, so that what is done is kept and nothing is
/// half-done; a second ends the process at once, as `endProcessOnInterrupt()` does (whatever
/// transaction is under way is rolled back by the server).
func stopOnInterrupt() {
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber) { received in
            // Only async-signal-safe calls here: a lock-free atomic, write(2) and _exit(2).
            if interruptReceived.exchange(received, ordering: .relaxed) == 0 {
                let message: StaticString = "\nstopping: the answers received so far are being recorded\n"
                message.withUTF8Buffer { buffer in _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count) }
                return
            }
            let message: StaticString = "\nerror: interrupted again; the command's transaction was not committed\n"
            message.withUTF8Buffer { buffer in _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count) }
            _exit(128 + received)
        }
    }
}

/// The signal `stopOnInterrupt()` noted, if one came.
func interruptSignal() -> Int32? {
    let received = interruptReceived.load(ordering: .relaxed)
    return received == 0 ? nil : received
}

/// The exit status for the signal `stopOnInterrupt()` noted: 130 for Ctrl-C, 143 for SIGTERM.
func interruptedStatus() -> ExitStatus {
    interruptSignal() == SIGTERM ? .terminated : .interrupted
}

/// The width of the terminal on `descriptor`, or `nil` when it is not one (a pipe) or says 0.
func terminalColumns(_ descriptor: Int32) -> Int? {
    var size = winsize()
    guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
    return Int(size.ws_col)
}
