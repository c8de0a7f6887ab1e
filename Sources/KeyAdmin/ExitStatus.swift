import KeyStore

/// Exit codes, as documented in the README and `--help`.
enum ExitStatus: Int32, CaseIterable {
    case success = 0
    case failure = 1
    case usage = 2
    case notFound = 3
    case busy = 4
    /// `--check`: a key answered, but not 2xx (refused, rate-limited, failing).
    case keysFailedCheck = 5
    /// `--check`: some requests got no answer (timeout, network, TLS, redirect): nothing is
    /// known about those keys.
    case checkIncomplete = 6
    /// `--check` stopped by Ctrl-C (128 + SIGINT) after recording what it had received.
    case interrupted = 130
    /// `--check` stopped by SIGTERM (128 + SIGTERM), likewise.
    case terminated = 143
    // 130 (128 + SIGINT) and 143 (SIGTERM) come from endProcessOnInterrupt().

    /// What the code means, as `--help` lists it (the README's table says the same at length).
    var meaning: String {
        switch self {
        case .success: "success"
        case .failure: "failure"
        case .usage: "usage or invalid input (nothing changed)"
        case .notFound: "provider, key or usable key not found"
        case .busy: "busy or timed out (try again)"
        case .keysFailedCheck: "--check: some keys answered, not 2xx"
        case .checkIncomplete: "--check: some got no answer"
        case .interrupted: "interrupted by Ctrl-C (nothing committed; --check keeps the answers recorded)"
        case .terminated: "stopped by SIGTERM, likewise"
        }
    }

    /// The codes `command` can end with, for its own `--help`.
    static func possible(for command: CommandName) -> [ExitStatus] {
        // It prints a script and touches nothing: it works, or its argument was wrong.
        if command == .completions { return [.success, .usage] }
        return allCases.filter { status in
            switch status {
            case .keysFailedCheck, .checkIncomplete: command == .check
            // No such provider or key: only commands that name one (adding a provider never does).
            case .notFound:
                command != .addProvider
                    && (command.entry.values.contains { $0 == .provider || $0 == .name }
                        || command.modifiers.contains(.provider))
            case .success, .failure, .usage, .busy, .interrupted, .terminated: true
            }
        }
    }

    init(_ category: KeyStoreError.Category) {
        switch category {
        case .failure: self = .failure
        case .usage: self = .usage
        case .notFound: self = .notFound
        case .busy: self = .busy
        }
    }
}
