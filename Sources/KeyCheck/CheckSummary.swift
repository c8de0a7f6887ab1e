import KeyStore

/// One key's line in the check's result.
public struct KeyCheckResult: Sendable {
    /// The key's number.
    public let number: Int
    /// The key (shown masked).
    public let key: APIKey
    /// What the provider said.
    public let outcome: ProbeOutcome
    /// From the request's start to its end.
    public let elapsed: Duration
    /// `elapsed` in whole milliseconds, as the table and `--json` show it.
    public var milliseconds: Int { elapsed.wholeMillisecondsForCurl }
    /// The key's state when it was read, and after the answer was recorded (`nil`: not
    /// recorded, or the key was deleted or replaced during the check).
    public let stateBefore: KeyState
    /// See `stateBefore`.
    public let stateAfter: KeyState?
    /// The key was disabled automatically and is enabled again.
    public let revived: Bool
    /// A refusal not recorded: every key asked was refused (see `RefusalGuard`).
    public let withheld: Bool
}

/// What a check found, counted.
public struct CheckSummary: Sendable {
    /// Keys whose answer (or lack of one) is known.
    public internal(set) var checked = 0
    /// 2xx.
    public internal(set) var succeeded = 0
    /// Keys disabled by the check, by status (401, 402, 403).
    public internal(set) var disabledByStatus: [Int: Int] = [:]
    /// Keys refused again while disabled (with `--revive`), by status.
    public internal(set) var stillRefusedByStatus: [Int: Int] = [:]
    /// 429s: keys cooling down.
    public internal(set) var rateLimited = 0
    /// 408 and 5xx: counted against the key.
    public internal(set) var failed = 0
    /// Other statuses (400, 404, ...): the request's fault, not the key's; nothing recorded.
    public internal(set) var otherStatus = 0
    /// Timeouts, network and TLS errors, redirects: nothing recorded.
    public internal(set) var noAnswer = 0
    /// Of `noAnswer`, the redirects: the endpoint points somewhere else.
    public internal(set) var redirected = 0
    /// The host the first redirect named, when it named one.
    public internal(set) var redirectHost: String?
    /// Keys enabled again (`--revive`).
    public internal(set) var revived = 0
    /// Keys that were to be checked.
    public internal(set) var total = 0
    /// Ctrl-C stopped the check: keys not yet answered were not recorded.
    public internal(set) var interrupted = false
    /// Refusals not recorded, because no key was anything but refused.
    public internal(set) var withheld = 0
    /// The check stopped after the first refusals, with nothing to vouch for the endpoint.
    public internal(set) var stoppedAfterRefusals = false
    /// Keys whose requests were in flight when the check stopped (Ctrl-C, the refusal guard):
    /// asked, but their answers were not waited for; nothing is recorded for them.
    public internal(set) var droppedInFlight: [Int] = []

    /// Answers that were not 2xx, the network's failures aside.
    public var unsuccessfulAnswers: Int { checked - succeeded - noAnswer }

    mutating func count(_ result: KeyCheckResult) {
        checked += 1
        if result.revived { revived += 1 }
        if result.withheld {
            withheld += 1
            return
        }
        guard let status = result.outcome.recordableStatus else {
            noAnswer += 1
            if case .redirected(_, let host) = result.outcome {
                redirected += 1
                redirectHost = redirectHost ?? host
            }
            return
        }
        switch status {
        case 200...299: succeeded += 1
        case 401, 402, 403:
            if result.stateBefore == .disabled {
                stillRefusedByStatus[status, default: 0] += 1
            } else {
                disabledByStatus[status, default: 0] += 1
            }
        case 429: rateLimited += 1
        case 408, 500...599: failed += 1
        default: otherStatus += 1
        }
    }
}
