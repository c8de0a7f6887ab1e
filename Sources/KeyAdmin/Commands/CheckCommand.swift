import KeyCheck
import KeyStore
import Postgres

/// `--check PROVIDER [--force] [--key NUM] [--revive] [--concurrency N] [--timeout SECONDS]`:
/// asks the provider about each key and records the answers, a line per key as they come:
///
///     checking 3 keys of openai at https://api.openai.com/v1/models: 16 at a time, 10 s each
///          #  key           status        ms  state
///         #1  sk-pr…a1b2    200           53  available
///         #2  sk-pr…c3d4    401           48  available → disabled
///         #3  sk-pr…e5f6    429           51  available → cooling down
///     3 keys: 1 ok, 1 disabled (401), 1 cooling down (429)
///
/// Exit 0 when every key answered 2xx, 5 when some answered otherwise, 6 when some got no
/// answer at all (nothing is known about those), 130 after Ctrl-C.
struct CheckCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider], help: "ask the provider whether each key works, and record the answers", writes: true
    ) { values, modifiers throws(UsageError) in
        CheckCommand(name: try values.provider(), options: try modifiers.checkOptions())
    }

    let name: ProviderName
    let options: CheckOptions

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        guard let endpoint = try context.store.endpoint(of: name) ?? ProviderEndpoint.builtIn(for: name) else {
            throw .notConfigured(
                "provider \(name) has no endpoint for --check (no built-in one for that name)",
                hint: "keyadmin --set-endpoint \(name) https://... [--api openai|anthropic|google]")
        }
        try KeyCheck.loadTransport()
        let plan = try context.store.checkPlan(of: name, only: options.only, revive: options.revive)
        if plan.candidates == 0 { try refuseEmpty(plan) }
        let verdict = Verdict()
        var result = CommandResult.streamed { stream throws(KeyStoreError) in
            try check(plan: plan, endpoint: endpoint, context: context, stream: stream, verdict: verdict)
        }
        result.verdict = verdict
        return result
    }

    /// Nothing to ask about: say why, unless it is only that every key is set aside. A key
    /// that exists but is left out exits 3, as `--get-key` does for it.
    private func refuseEmpty(_ plan: CheckPlan) throws(KeyStoreError) {
        if let number = options.only {
            if plan.disabledByOperator > 0 {
                throw .keyLeftOut(
                    name, number: number, why: "was disabled by an operator: --check never asks about it",
                    hint: "keyadmin --enable-key \(name) \(number) first")
            }
            if plan.disabledAutomatically > 0 {
                throw .keyLeftOut(
                    name, number: number, why: "was disabled after a 401, 402 or 403",
                    hint: "add --revive to ask again and enable it if it answers")
            }
            if plan.expired > 0 {
                throw .keyLeftOut(
                    name, number: number, why: "has expired: --check skips it",
                    hint: "keyadmin --set-expiry \(name) \(number) never, or --update-key \(name) \(number) -")
            }
            throw .keyNotFound(name, number: number)
        }
        if plan.disabledByOperator + plan.disabledAutomatically + plan.expired == 0 { throw .noKeys(name) }
    }

    private func check(
        plan: CheckPlan, endpoint: ProviderEndpoint, context: CommandContext, stream: ResultStream, verdict: Verdict
    ) throws(KeyStoreError) {
        stream.open()
        let json = stream.json
        let progress = ProgressLine(enabled: context.printer.err.isTerminal, output: context.printer.err, name: name)
        if let json {
            json.member("provider", name.rawValue)
            json.member("probe_url", endpoint.probeURL)
            json.member("api_style", endpoint.style.rawValue)
            json.name("keys")
            json.beginArray()
        } else if plan.candidates > 0 {
            let each = "\(options.timeout.secondsText) s each"
            stream.line(
                "checking \(plan.candidates) key\(plan.candidates == 1 ? "" : "s") of \(name) at \(endpoint.probeURL): "
                    + "\(options.concurrency) at a time, \(each)")
            stream.line(Self.row("#", "key", "status", "ms", "state"))
        }
        stopOnInterrupt()
        var options = options
        options.caFile = environmentVariable("SSL_CERT_FILE")
        let summary = try KeyCheck(
            store: context.store, provider: name, endpoint: endpoint, options: options,
            userAgent: "keyadmin/\(KeyAdminVersion.current)"
        ).run(
            total: plan.candidates,
            shouldStop: { interruptSignal() != nil },
            progress: { summary in
                if json == nil { stream.output.flush() }
                progress.show(summary)
            },
            report: { result in
                progress.clear()
                if let json { Self.write(result, to: json) } else { stream.line(Self.describe(result)) }
            })
        progress.clear()
        let notChecked = Self.notChecked(plan, revive: options.revive)
        if let json {
            json.endArray()
            json.name("summary")
            json.value(.object(Self.counts(summary).map { JSONMember($0.name, .number($0.value)) }))
            json.member("interrupted", flag: summary.interrupted)
            json.member("stopped_after_refusals", flag: summary.stoppedAfterRefusals)
            json.name("not_checked")
            json.value(
                .object([
                    JSONMember("disabled_by_operator", .number(plan.disabledByOperator)),
                    JSONMember("disabled_automatically", .number(options.revive ? 0 : plan.disabledAutomatically)),
                    JSONMember("expired", .number(plan.expired)),
                ]))
        } else {
            stream.line(plan.candidates == 0 ? "nothing to check" : Self.describe(summary))
            if let notChecked { stream.line("not checked: \(notChecked)") }
        }
        if plan.candidates > 0 {
            try context.store.recordCheck(
                of: name, probeURL: endpoint.probeURL, interrupted: summary.interrupted, counts: Self.counts(summary))
        }
        verdict.failure = Self.failure(summary, shown: json == nil ? "the table" : "keys")
    }

    // MARK: - What is shown

    private static func row(_ number: String, _ key: String, _ status: String, _ ms: String, _ state: String) -> String
    {
        padded(number, to: 6, alignRight: true) + "  " + padded(key, to: 13) + " " + padded(status, to: 9) + " "
            + padded(ms, to: 6, alignRight: true) + "  " + state
    }

    static func describe(_ result: KeyCheckResult) -> String {
        let status: String
        var note: String?
        switch result.outcome {
        case .answered(let code, _): status = String(code)
        case .keyRejected(let code, let reason):
            status = String(code)
            note = "\(reason): recorded as a 401"
        case .redirected(let code):
            status = String(code)
            note = "a redirect, not followed: check the endpoint"
        case .timedOut:
            status = "timeout"
            note = "no answer in time"
        case .noAnswer(let reason):
            status = "no answer"
            note = reason
        }
        var state = result.stateBefore.words
        if let after = result.stateAfter, after != result.stateBefore { state += " → \(after.words)" }
        if result.revived { state += " (enabled again)" }
        if case .keyRejected = result.outcome, let note { state += " (\(note))" }
        if result.withheld {
            state += " (not recorded: every key asked was refused)"
        } else if result.outcome.recordableStatus == nil {
            state += " (not recorded: \(note ?? "no answer"))"
        } else if result.stateAfter == nil {
            state += " (not recorded: the key was deleted or replaced during the check)"
        }
        return row("#\(result.number)", result.key.masked, status, String(result.elapsed.wholeMilliseconds), state)
    }

    static func write(_ result: KeyCheckResult, to json: JSONWriter) {
        json.beginObject()
        json.member("number", number: result.number)
        json.member("key", result.key.masked)
        json.member("http_status", number: result.outcome.httpStatus)
        json.member("outcome", outcomeWord(result.outcome))
        var error: String?
        if case .noAnswer(let reason) = result.outcome { error = reason }
        json.member("error", error)
        json.member("milliseconds", number: result.elapsed.wholeMilliseconds)
        json.member("state_before", result.stateBefore.rawValue)
        json.member("state_after", result.stateAfter?.rawValue)
        json.member(
            "recorded", flag: result.outcome.recordableStatus != nil && result.stateAfter != nil && !result.withheld)
        json.member("revived", flag: result.revived)
        json.endObject()
    }

    private static func outcomeWord(_ outcome: ProbeOutcome) -> String {
        switch outcome {
        case .answered: "answered"
        case .keyRejected: "key_rejected"
        case .redirected: "redirected"
        case .timedOut: "timed_out"
        case .noAnswer: "no_answer"
        }
    }

    /// "40 keys: 37 ok, 2 disabled (401), 1 cooling down (429)"
    static func describe(_ summary: CheckSummary) -> String {
        var parts = ["\(summary.succeeded) ok"]
        func byStatus(_ counts: [Int: Int]) -> String {
            counts.keys.sorted().map { counts.count == 1 ? String($0) : "\(counts[$0] ?? 0) × \($0)" }
                .joined(separator: ", ")
        }
        let disabled = summary.disabledByStatus.values.reduce(0, +)
        if disabled > 0 { parts.append("\(disabled) disabled (\(byStatus(summary.disabledByStatus)))") }
        let stillRefused = summary.stillRefusedByStatus.values.reduce(0, +)
        if stillRefused > 0 {
            parts.append("\(stillRefused) still refused (\(byStatus(summary.stillRefusedByStatus)))")
        }
        if summary.rateLimited > 0 { parts.append("\(summary.rateLimited) cooling down (429)") }
        if summary.failed > 0 { parts.append("\(summary.failed) failing (408, 5xx)") }
        if summary.otherStatus > 0 {
            parts.append(
                "\(summary.otherStatus) other answer\(summary.otherStatus == 1 ? "" : "s") (not the key's fault)")
        }
        if summary.withheld > 0 { parts.append("\(summary.withheld) refused, not recorded") }
        if summary.noAnswer > 0 { parts.append("\(summary.noAnswer) no answer") }
        if summary.revived > 0 { parts.append("\(summary.revived) enabled again") }
        var line = "\(summary.checked) key\(summary.checked == 1 ? "" : "s"): " + parts.joined(separator: ", ")
        if summary.stoppedAfterRefusals {
            line += "; stopped: the first \(summary.withheld) keys asked were all refused"
        } else if summary.interrupted {
            line += "; stopped after \(summary.checked) of \(summary.total): these answers are recorded, no other"
        }
        return line
    }

    static func counts(_ summary: CheckSummary) -> [(name: String, value: Int)] {
        [
            ("checked", summary.checked), ("ok", summary.succeeded),
            ("disabled", summary.disabledByStatus.values.reduce(0, +)),
            ("still_refused", summary.stillRefusedByStatus.values.reduce(0, +)),
            ("cooling_down", summary.rateLimited), ("failing", summary.failed), ("other_status", summary.otherStatus),
            ("no_answer", summary.noAnswer), ("revived", summary.revived), ("withheld", summary.withheld),
            ("total", summary.total),
        ]
    }

    private static func notChecked(_ plan: CheckPlan, revive: Bool) -> String? {
        var parts: [String] = []
        if plan.disabledByOperator > 0 { parts.append("\(plan.disabledByOperator) disabled by an operator") }
        if !revive && plan.disabledAutomatically > 0 {
            parts.append("\(plan.disabledAutomatically) disabled after a 401/402/403 (add --revive)")
        }
        if plan.expired > 0 { parts.append("\(plan.expired) expired") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// `shown`: where the answers are, "the table" or (`--json`) "keys".
    private static func failure(_ summary: CheckSummary, shown: String) -> CommandFailure? {
        if summary.interrupted {
            return CommandFailure(
                message: "interrupted: \(summary.checked) of \(summary.total) keys checked; their answers are recorded",
                hint: nil, status: interruptedStatus())
        }
        if summary.withheld > 0 {
            return CommandFailure(
                message: "every key asked was refused (\(summary.withheld)), so none was disabled: "
                    + "is the endpoint right, or is the account out of credit?",
                hint: "keyadmin --set-endpoint fixes the endpoint; --force records the refusals",
                status: .keysFailedCheck)
        }
        if summary.noAnswer > 0 {
            return CommandFailure(
                message: "\(summary.noAnswer) of \(summary.checked) keys got no answer; nothing is known about them",
                hint: "see \(shown); check the endpoint and the network, or raise --timeout", status: .checkIncomplete)
        }
        if summary.unsuccessfulAnswers > 0 {
            return CommandFailure(
                message: "\(summary.unsuccessfulAnswers) of \(summary.checked) keys did not answer 2xx",
                hint: "see \(shown); the pool now reflects the answers", status: .keysFailedCheck)
        }
        return nil
    }
}

/// "checking openai: 412/1000, 3 not ok", redrawn on stderr while a check runs on a terminal.
private struct ProgressLine {
    let enabled: Bool
    let output: BufferedOutput
    let name: ProviderName

    func show(_ summary: CheckSummary) {
        guard enabled else { return }
        let notOK = summary.checked - summary.succeeded
        output.write("\r\u{1B}[Kchecking \(name): \(summary.checked)/\(summary.total), \(notOK) not ok")
        output.flush()
    }

    func clear() {
        guard enabled else { return }
        output.write("\r\u{1B}[K")
        output.flush()
    }
}

extension Duration {
    /// "10" or "0.5".
    var secondsText: String {
        let milliseconds = wholeMilliseconds
        return milliseconds % 1000 == 0 ? String(milliseconds / 1000) : String(Double(milliseconds) / 1000)
    }
}
