import KeyStore

/// Exit codes, as documented in the README and `--help`.
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case usage = 2
    case notFound = 3
    case busy = 4
    // 130 (128 + SIGINT) and 143 (SIGTERM) come from endProcessOnInterrupt().

    init(_ category: KeyStoreError.Category) {
        switch category {
        case .failure: self = .failure
        case .usage: self = .usage
        case .notFound: self = .notFound
        case .busy: self = .busy
        }
    }
}
