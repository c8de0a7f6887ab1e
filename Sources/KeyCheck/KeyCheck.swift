import KeyStore

/// How a check runs: which keys, how many at once, how long each may take.
public struct CheckOptions: Sendable, Equatable {
    /// Only this key number.
    public var only: Int?
    /// Also probe keys disabled after a 401, 402 or 403, and enable those that answer 2xx.
    public var revive = false
    /// Requests at once.
    public var concurrency = CheckOptions.defaultConcurrency
    /// The longest one request may take, connection included.
    public var timeout = CheckOptions.defaultTimeout

    /// 16 at a time, 10 seconds each.
    public static let defaultConcurrency = 16
    /// The longest a request may take unless told otherwise.
    public static let defaultTimeout = Duration.seconds(10)
    /// The most requests at once: a provider sees them all come from one address.
    public static let concurrencyRange = 1...256

    /// The defaults.
    public init() {}
}

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
    /// The key's state when it was read, and after the answer was recorded (`nil`: not
    /// recorded, or the key was deleted or replaced during the check).
    public let stateBefore: KeyState
    /// See `stateBefore`.
    public let stateAfter: KeyState?
    /// The key was disabled automatically and is enabled again.
    public let revived: Bool
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
    /// Keys enabled again (`--revive`).
    public internal(set) var revived = 0
    /// Keys that were to be checked.
    public internal(set) var total = 0
    /// Ctrl-C stopped the check: keys not yet answered were not recorded.
    public internal(set) var interrupted = false

    /// Answers that were not 2xx, the network's failures aside.
    public var unsuccessfulAnswers: Int { checked - succeeded - noAnswer }

    mutating func count(_ result: KeyCheckResult) {
        checked += 1
        if result.revived { revived += 1 }
        guard let status = result.outcome.recordableStatus else {
            noAnswer += 1
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

/// `keyadmin --check`: asks the provider about each key, `concurrency` at a time, and records
/// each answer as `report_api_key_result` does, a batch of answers per transaction, as they
/// come. Results are handed out in key-number order.
public struct KeyCheck {
    let store: KeyStore
    let provider: ProviderName
    let endpoint: ProviderEndpoint
    let options: CheckOptions
    let userAgent: String

    /// A check of `provider`'s keys at `endpoint`.
    public init(
        store: KeyStore, provider: ProviderName, endpoint: ProviderEndpoint, options: CheckOptions, userAgent: String
    ) {
        self.store = store
        self.provider = provider
        self.endpoint = endpoint
        self.options = options
        self.userAgent = userAgent
    }

    /// Keys read from the database at a time: memory stays flat in the size of the pool.
    static let pageSize = 256
    /// Bytes of an answer's body read at most; the rest is not downloaded.
    static let bodyLimit = 64 * 1024
    /// The reason a key enabled by `--revive` carries in the history.
    static let reviveReason = "keyadmin --check: the provider accepted the key (HTTP 2xx)"

    /// Runs the check. `shouldStop` is asked between steps (Ctrl-C); answers already received
    /// are recorded, requests in flight are dropped. `progress` gets the summary so far, after
    /// every batch; `report` each key's result, in number order.
    public func run(
        total: Int,
        shouldStop: () -> Bool,
        progress: (CheckSummary) -> Void,
        report: (KeyCheckResult) -> Void
    ) throws(KeyStoreError) -> CheckSummary {
        try LibCurl.load()
        guard let group = TransferGroup() else {
            throw .database("libcurl could not start a transfer group", hint: nil)
        }
        let caFile = environmentValue("SSL_CERT_FILE")
        var summary = CheckSummary()
        summary.total = total
        var launched: [(number: Int, result: KeyCheckResult?)] = []
        var launchedStart = 0
        var inFlight: [ObjectIdentifier: CheckCandidate] = [:]
        var page: [CheckCandidate] = []
        var pageIndex = 0
        var lastNumber = 0
        var pagesExhausted = false

        func release() {
            // Hand out results in number order, as far as every earlier key has its result.
            while launchedStart < launched.count, let result = launched[launchedStart].result {
                report(result)
                launched[launchedStart].result = nil
                launchedStart += 1
            }
            if launchedStart > 1024 {
                launched.removeFirst(launchedStart)
                launchedStart = 0
            }
        }

        while true {
            if shouldStop() {
                summary.interrupted = true
                break
            }
            while group.count < options.concurrency {
                if pageIndex == page.count {
                    if pagesExhausted { break }
                    page = try store.checkCandidates(
                        of: provider, only: options.only, revive: options.revive, after: lastNumber,
                        limit: Self.pageSize)
                    pageIndex = 0
                    pagesExhausted = page.count < Self.pageSize
                    if page.isEmpty { break }
                }
                let candidate = page[pageIndex]
                pageIndex += 1
                lastNumber = candidate.number
                guard
                    let transfer = Transfer(
                        url: endpoint.probeURL, headerLines: endpoint.style.headers(carrying: candidate.key),
                        timeout: options.timeout, caFile: caFile, userAgent: userAgent, bodyLimit: Self.bodyLimit),
                    group.add(transfer)
                else { throw .database("libcurl refused a request (out of memory?)", hint: nil) }
                inFlight[ObjectIdentifier(transfer)] = candidate
                launched.append((candidate.number, nil))
            }
            if group.count == 0 { break }
            group.perform()
            let ended = group.finished()
            if ended.isEmpty {
                group.wait(milliseconds: 100)
                continue
            }
            var answers: [(candidate: CheckCandidate, outcome: ProbeOutcome, elapsed: Duration)] = []
            for (transfer, outcome, code) in ended {
                guard let candidate = inFlight.removeValue(forKey: ObjectIdentifier(transfer)) else { continue }
                answers.append(
                    (
                        candidate, ProbeOutcome(transfer, outcome: outcome, code: code, style: endpoint.style),
                        transfer.elapsed
                    ))
            }
            let recordable = answers.compactMap { answer -> CheckAnswer? in
                guard let status = answer.outcome.recordableStatus else { return nil }
                var retryAfter = 0
                if case .answered(_, let seconds?) = answer.outcome { retryAfter = seconds }
                return CheckAnswer(
                    number: answer.candidate.number, key: answer.candidate.key, httpStatus: status,
                    retryAfterSeconds: retryAfter, revive: answer.candidate.state == .disabled)
            }
            let states =
                recordable.isEmpty
                ? [:]
                : try store.recordCheckAnswers(
                    recordable, for: provider, reviveReason: try OperatorText.reason(Self.reviveReason))
            for answer in answers {
                let recorded = states[answer.candidate.number]
                let result = KeyCheckResult(
                    number: answer.candidate.number, key: answer.candidate.key, outcome: answer.outcome,
                    elapsed: answer.elapsed, stateBefore: answer.candidate.state,
                    stateAfter: answer.outcome.recordableStatus == nil ? answer.candidate.state : recorded?.state,
                    revived: recorded?.revived ?? false)
                summary.count(result)
                if let index = launched[launchedStart...].firstIndex(where: { $0.number == answer.candidate.number }) {
                    launched[index].result = result
                }
            }
            release()
            progress(summary)
        }
        group.removeAll()
        if summary.interrupted {
            // Keys whose requests were dropped have no result; hand out the others in order.
            launched = launched[launchedStart...].filter { $0.result != nil }
            launchedStart = 0
            release()
        }
        return summary
    }
}
