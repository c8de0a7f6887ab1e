import Foundation

/// The environment of a child process a test starts: this process's, less the variables that
/// would choose another database or change the output, plus the test's own.
public enum ChildEnvironment {
    /// Cleared for every child, so that only what the test sets applies.
    /// Proxies and a CA file too: `--check` must reach the stand-in providers on loopback, with
    /// only the certificates a test trusts.
    public static let cleared = [
        "DATABASE_URL", "WORKER_1_DATABASE_URL", "WORKER_1_URL", "NO_COLOR", "KEYADMIN_ACTOR", "http_proxy",
        "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR",
    ]

    /// This process's environment without `cleared` and `unsetting`, with `overrides` set.
    public static func make(_ overrides: [String: String] = [:], unsetting: [String] = []) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in cleared + unsetting { environment[name] = nil }
        environment.merge(overrides) { $1 }
        return environment
    }
}
