import KeyCheck
import KeyStore

/// `--check --json`: the provider, its endpoint, `keys` as they come, then `summary` and
/// `not_checked`, inside the printer's envelope.
struct CheckJSONRenderer: CheckRenderer {
    let json: JSONWriter

    func begin(_ run: CheckRun, options: CheckOptions) {
        json.member("provider", run.provider.rawValue)
        json.member("probe_url", run.endpoint.probeURL)
        json.member("api_style", run.endpoint.style.rawValue)
        json.name("keys")
        json.beginArray()
    }

    func result(_ result: KeyCheckResult) {
        json.beginObject()
        json.member("number", number: result.number)
        json.member("key", result.key.masked)
        json.member("http_status", number: result.outcome.httpStatus)
        json.member("outcome", Self.outcomeWord(result.outcome))
        var error: String?
        if case .noAnswer(let reason) = result.outcome { error = reason }
        json.member("error", error)
        json.member("milliseconds", number: result.milliseconds)
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

    func end(_ summary: CheckSummary, plan: CheckPlan, revive: Bool) {
        json.endArray()
        json.name("summary")
        json.value(.object(summary.counts.map { JSONMember($0.name, .number($0.value)) }))
        json.member("interrupted", flag: summary.interrupted)
        json.member("stopped_after_refusals", flag: summary.stoppedAfterRefusals)
        json.name("not_checked")
        json.value(
            .object([
                JSONMember("disabled_by_operator", .number(plan.disabledByOperator)),
                JSONMember("disabled_automatically", .number(revive ? 0 : plan.disabledAutomatically)),
                JSONMember("expired", .number(plan.expired)),
                JSONMember("in_flight_when_stopped", .array(summary.droppedInFlight.map { .number($0) })),
            ]))
    }
}
