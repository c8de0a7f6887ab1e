import KeyStore

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
            throw .transport("libcurl could not start a transfer group")
        }
        var keys = CandidatePages(check: self)
        var results = ResultsInOrder()
        var refusals = RefusalGuard(vouched: options.recordEveryRefusal)
        var inFlight: [ObjectIdentifier: CheckCandidate] = [:]
        var summary = CheckSummary()
        summary.total = total

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
                        timeout: options.timeout, caFile: options.caFile, userAgent: userAgent,
                        bodyLimit: Self.bodyLimit),
                    group.add(transfer)
                else { throw .transport("libcurl refused a request (out of memory?)") }
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
        // Requests still in flight when the check stopped are dropped: their keys are said to
        // be unchecked, by number, rather than skipped silently.
        summary.droppedInFlight = inFlight.values.map(\.number).sorted()
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
