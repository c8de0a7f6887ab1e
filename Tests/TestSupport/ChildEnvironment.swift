import Foundation

/// The environment of a child process a test starts: this process's, less the variables that
/// would choose another database or change the output, plus the test's own.
public enum ChildEnvironment {
    /// Cleared for every child, so that only what the test sets applies.
    public static let cleared = ["DATABASE_URL", "WORKER_1_DATABASE_URL", "WORKER_1_URL", "NO_COLOR", "KEYADMIN_ACTOR"]

    /// This process's environment without `cleared` and `unsetting`, with `overrides` set.
    public static func make(_ overrides: [String: String] = [:], unsetting: [String] = []) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in cleared + unsetting { environment[name] = nil }
        environment.merge(overrides) { $1 }
        return environment
    }
}
