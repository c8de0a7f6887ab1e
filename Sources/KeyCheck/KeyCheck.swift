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
    /// Record refusals even when every key is refused (see `RefusalGuard`): `--force`.
    public var recordEveryRefusal = false

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

    /// Loads libcurl, or says what to install: call it before printing anything, so that a
    /// machine without libcurl gets one line.
    public static func loadTransport() throws(KeyStoreError) {
        try LibCurl.load()
    }

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
        var keys = CandidatePages(check: self)
        var results = ResultsInOrder()
        var refusals = RefusalGuard(vouched: options.recordEveryRefusal)
        var inFlight: [ObjectIdentifier: CheckCandidate] = [:]
        var summary = CheckSummary()
        summary.total = total
        let caFile = environmentValue("SSL_CERT_FILE")

        func handOut(_ batch: [KeyCheckResult]) {
            for result in batch {
                summary.count(result)
                results.add(result)
            }
        }

        while true {
            if shouldStop() {
                summary.interrupted = true
                break
            }
            while group.count < options.concurrency, let candidate = try keys.next() {
                guard
                    let transfer = Transfer(
                        url: endpoint.probeURL, headerLines: endpoint.style.headers(carrying: candidate.key),
                        timeout: options.timeout, caFile: caFile, userAgent: userAgent, bodyLimit: Self.bodyLimit),
                    group.add(transfer)
                else { throw .database("libcurl refused a request (out of memory?)", hint: nil) }
                inFlight[ObjectIdentifier(transfer)] = candidate
                results.launched(candidate.number)
            }
            if group.count == 0 { break }
            group.perform()
            let ended = group.finished()
            if ended.isEmpty {
                group.wait(milliseconds: 100)
                continue
            }
            var answers: [Answer] = []
            for (transfer, outcome, code) in ended {
                guard let candidate = inFlight.removeValue(forKey: ObjectIdentifier(transfer)) else { continue }
                let said = ProbeOutcome(transfer, outcome: outcome, code: code, style: endpoint.style)
                answers.append(Answer(candidate: candidate, outcome: said, elapsed: transfer.elapsed))
            }
            handOut(try record(refusals.admit(answers)))
            results.release(to: report)
            progress(summary)
            if refusals.mustStop {
                summary.stoppedAfterRefusals = true
                break
            }
        }
        group.removeAll()
        // Refusals still held: a few are recorded at the end; after a stop, none.
        let (toRecord, withheld) =
            summary.interrupted || summary.stoppedAfterRefusals ? ([], refusals.held) : refusals.finish()
        handOut(try record(toRecord))
        handOut(withheld.map { $0.result(stateAfter: $0.candidate.state, withheld: true) })
        // Keys whose requests were dropped (Ctrl-C, a stop) have no result; the others go out in order.
        results.releaseSkippingMissing(to: report)
        progress(summary)
        return summary
    }

    /// Records a batch in one transaction and returns each answer's result.
    private func record(_ answers: [Answer]) throws(KeyStoreError) -> [KeyCheckResult] {
        guard !answers.isEmpty else { return [] }
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
        return answers.map { answer in
            let recorded = states[answer.candidate.number]
            return answer.result(
                stateAfter: answer.outcome.recordableStatus == nil ? answer.candidate.state : recorded?.state,
                revived: recorded?.revived ?? false)
        }
    }
}

/// A key and what its provider said about it, before it is recorded.
struct Answer {
    let candidate: CheckCandidate
    let outcome: ProbeOutcome
    let elapsed: Duration

    func result(stateAfter: KeyState?, revived: Bool = false, withheld: Bool = false) -> KeyCheckResult {
        KeyCheckResult(
            number: candidate.number, key: candidate.key, outcome: outcome, elapsed: elapsed,
            stateBefore: candidate.state, stateAfter: stateAfter, revived: revived, withheld: withheld)
    }
}

/// The keys to ask about, read a page at a time in number order (keyset pagination: no cursor
/// held across transactions, so a pooler in transaction mode is fine).
private struct CandidatePages {
    let check: KeyCheck
    private var page: [CheckCandidate] = []
    private var index = 0
    private var lastNumber = 0
    private var exhausted = false

    init(check: KeyCheck) { self.check = check }

    mutating func next() throws(KeyStoreError) -> CheckCandidate? {
        if index == page.count {
            if exhausted { return nil }
            page = try check.store.checkCandidates(
                of: check.provider, only: check.options.only, revive: check.options.revive, after: lastNumber,
                limit: KeyCheck.pageSize)
            index = 0
            exhausted = page.count < KeyCheck.pageSize
            if page.isEmpty { return nil }
        }
        let candidate = page[index]
        index += 1
        lastNumber = candidate.number
        return candidate
    }
}

/// Results handed out in the order the keys were asked about (number order), each as soon as
/// every earlier key has its own: answers arrive in any order.
private struct ResultsInOrder {
    private var slots: [(number: Int, result: KeyCheckResult?)] = []
    private var start = 0

    mutating func launched(_ number: Int) { slots.append((number, nil)) }

    mutating func add(_ result: KeyCheckResult) {
        if let index = slots[start...].firstIndex(where: { $0.number == result.number }) {
            slots[index].result = result
        }
    }

    mutating func release(to report: (KeyCheckResult) -> Void) {
        while start < slots.count, let result = slots[start].result {
            report(result)
            slots[start].result = nil
            start += 1
        }
        if start > 1024 {
            slots.removeFirst(start)
            start = 0
        }
    }

    /// At the end: keys without a result (requests dropped) are passed over.
    mutating func releaseSkippingMissing(to report: (KeyCheckResult) -> Void) {
        slots = slots[start...].filter { $0.result != nil }
        start = 0
        release(to: report)
    }
}

/// Refusals (401, 402, 403) of enabled keys are held back until an answer shows that the
/// endpoint knows the keys (a 2xx or a 429): a wrong endpoint, or a provider's outage that
/// answers 401 to everyone, must not disable a whole pool. When the first 32 such refusals come
/// with nothing to vouch for the endpoint, the check stops and records none of them; a pool
/// with fewer than 3 keys refused is recorded as it is. `recordEveryRefusal` (`--force`) turns
/// this off.
struct RefusalGuard {
    private(set) var vouched: Bool
    private(set) var held: [Answer] = []

    /// Refusals held before the check stops.
    static let window = 32
    /// Fewer refusals than this, in a pool with no other answer, are recorded.
    static let minimum = 3

    init(vouched: Bool) { self.vouched = vouched }

    /// What of `batch` to record now (and the refusals held so far, once an answer vouches).
    mutating func admit(_ batch: [Answer]) -> [Answer] {
        if !vouched, batch.contains(where: Self.vouches) { vouched = true }
        if vouched {
            defer { held = [] }
            return held + batch
        }
        var now: [Answer] = []
        for answer in batch {
            if Self.wouldDisable(answer) { held.append(answer) } else { now.append(answer) }
        }
        return now
    }

    var mustStop: Bool { !vouched && held.count >= Self.window }

    /// At the end: a few refusals are recorded, more are withheld.
    mutating func finish() -> (record: [Answer], withheld: [Answer]) {
        defer { held = [] }
        return held.count < Self.minimum ? (held, []) : ([], held)
    }

    static func vouches(_ answer: Answer) -> Bool {
        answer.outcome.isSuccess || answer.outcome.recordableStatus == 429
    }

    static func wouldDisable(_ answer: Answer) -> Bool {
        guard answer.candidate.state != .disabled, let status = answer.outcome.recordableStatus else { return false }
        return (401...403).contains(status)
    }
}
