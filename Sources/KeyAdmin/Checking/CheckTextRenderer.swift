import KeyCheck
import KeyStore

/// `--check` for people, a line per key as the answers come:
///
///     checking 3 keys of openai at https://api.openai.com/v1/models: 16 at a time, 10 s each
///          #  key           status        ms  state
///         #1  sk-pr…a1b2    200           53  available
///         #2  sk-pr…c3d4    401           48  available → disabled
///     2 keys: 1 ok, 1 disabled (401)
struct CheckTextRenderer: CheckRenderer {
    let stream: ResultStream

    func begin(_ run: CheckRun, options: CheckOptions) {
        let count = run.plan.candidates
        guard count > 0 else { return }
        stream.line(
            "checking \(count) key\(count == 1 ? "" : "s") of \(run.provider) at \(run.endpoint.probeURL): "
                + "\(options.concurrency) at a time, \(Self.secondsText(options.timeoutMilliseconds)) s each")
        stream.line(Self.row("#", "key", "status", "ms", "state"))
    }

    func result(_ result: KeyCheckResult) {
        stream.line(Self.describe(result))
    }

    func end(_ summary: CheckSummary, plan: CheckPlan, revive: Bool) {
        stream.line(plan.candidates == 0 ? "nothing to check" : Self.describe(summary))
        if let notChecked = Self.notChecked(plan, revive: revive, dropped: summary.droppedInFlight) {
            stream.line("not checked: \(notChecked)")
        }
    }

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
        case .redirected(let code, let host):
            status = String(code)
            note = "a redirect" + (host.map { " to \($0)" } ?? "") + ", not followed: check the endpoint"
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
        return row("#\(result.number)", result.key.masked, status, String(result.milliseconds), state)
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

    private static func notChecked(_ plan: CheckPlan, revive: Bool, dropped: [Int]) -> String? {
        var parts: [String] = []
        if !dropped.isEmpty {
            let numbers = dropped.map { "#\($0)" }
            let shown = numbers.count <= 10 ? numbers : numbers.prefix(10) + ["..."]
            parts.append("\(dropped.count) in flight when the check stopped (\(shown.joined(separator: ", ")))")
        }
        if plan.disabledByOperator > 0 { parts.append("\(plan.disabledByOperator) disabled by an operator") }
        if !revive && plan.disabledAutomatically > 0 {
            parts.append("\(plan.disabledAutomatically) disabled after a 401/402/403 (add --revive)")
        }
        if plan.expired > 0 { parts.append("\(plan.expired) expired") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// "10" or "0.5".
    private static func secondsText(_ milliseconds: Int) -> String {
        milliseconds % 1000 == 0 ? String(milliseconds / 1000) : String(Double(milliseconds) / 1000)
    }
}
