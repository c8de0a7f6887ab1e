import KeyStore

/// One `--check`, from what can refuse it to the event that records it: what a front end (the
/// command line) calls, handing each result to its own renderer as it comes.
public struct CheckRun {
    /// The provider whose keys are asked about.
    public let provider: ProviderName
    /// Where they are asked: the provider's endpoint, or the built-in one for its name.
    public let endpoint: ProviderEndpoint
    /// How many keys will be asked about, and how many are left out and why.
    public let plan: CheckPlan
    private let check: KeyCheck

    /// Everything that can refuse a check happens here, before anything is printed: no
    /// endpoint, no libcurl, no such provider or key, or a key that `--check` leaves alone.
    public init(
        store: KeyStore, provider: ProviderName, options: CheckOptions, userAgent: String
    ) throws(KeyStoreError) {
        guard let endpoint = try store.endpoint(of: provider) ?? ProviderEndpoint.builtIn(for: provider) else {
            throw .notConfigured(
                "provider \(provider) has no endpoint for --check (no built-in one for that name)",
                hint: "keyadmin --set-endpoint \(provider) https://... [--api openai|anthropic|google]")
        }
        try KeyCheck.loadTransport()
        let plan = try store.checkPlan(of: provider, only: options.only, revive: options.revive)
        if plan.candidates == 0 { try Self.refuseEmpty(plan, provider: provider, only: options.only) }
        self.provider = provider
        self.endpoint = endpoint
        self.plan = plan
        check = KeyCheck(store: store, provider: provider, endpoint: endpoint, options: options, userAgent: userAgent)
    }

    /// Nothing to ask about: say why, unless it is only that every key is set aside. A key
    /// that exists but is left out is `keyLeftOut` (exit 3, as `--get-key` gives for it).
    private static func refuseEmpty(_ plan: CheckPlan, provider: ProviderName, only: Int?) throws(KeyStoreError) {
        if let number = only {
            if plan.disabledByOperator > 0 {
                throw .keyLeftOut(
                    provider, number: number, why: "was disabled by an operator: --check never asks about it",
                    hint: "keyadmin --enable-key \(provider) \(number) first")
            }
            if plan.disabledAutomatically > 0 {
                throw .keyLeftOut(
                    provider, number: number, why: "was disabled after a 401, 402 or 403",
                    hint: "add --revive to ask again and enable it if it answers")
            }
            if plan.expired > 0 {
                throw .keyLeftOut(
                    provider, number: number, why: "has expired: --check skips it",
                    hint: "keyadmin --set-expiry \(provider) \(number) never, or --update-key \(provider) \(number) -")
            }
            throw .keyNotFound(provider, number: number)
        }
        if plan.disabledByOperator + plan.disabledAutomatically + plan.expired == 0 { throw .noKeys(provider) }
    }

    /// Asks about the keys (see `KeyCheck.run`), then records the check as one
    /// `provider_checked` event when any key was to be asked.
    public func run(
        shouldStop: () -> Bool, progress: (CheckSummary) -> Void, report: (KeyCheckResult) -> Void
    ) throws(KeyStoreError) -> CheckSummary {
        let summary = try check.run(total: plan.candidates, shouldStop: shouldStop, progress: progress, report: report)
        if plan.candidates > 0 {
            try check.store.recordCheck(
                of: provider, probeURL: endpoint.probeURL, interrupted: summary.interrupted, counts: summary.counts)
        }
        return summary
    }
}

/// How a check that ran ends, when not every key answered 2xx.
public enum CheckVerdict: Sendable, Equatable {
    /// Stopped (Ctrl-C, SIGTERM): the answers received are recorded, no other.
    case interrupted
    /// Every key asked was refused, so none was disabled (`RefusalGuard`).
    case everyKeyRefused
    /// Every request without an answer was redirected (to `host`, when the redirect named
    /// one): the endpoint is wrong; no key was sent on, and nothing is known about them.
    case redirected(toHost: String?)
    /// Some requests got no answer: nothing is known about those keys.
    case someGotNoAnswer
    /// Some keys answered, but not 2xx; the pool reflects the answers.
    case someAnsweredNot2xx
}

extension CheckSummary {
    /// `nil` when every key asked answered 2xx; otherwise the most telling way it fell short.
    public var verdict: CheckVerdict? {
        if interrupted { return .interrupted }
        if withheld > 0 { return .everyKeyRefused }
        if redirected > 0 && redirected == noAnswer { return .redirected(toHost: redirectHost) }
        if noAnswer > 0 { return .someGotNoAnswer }
        if unsuccessfulAnswers > 0 { return .someAnsweredNot2xx }
        return nil
    }

    /// The counts as the record and `--json` name them.
    public var counts: [(name: String, value: Int)] {
        [
            ("checked", checked), ("ok", succeeded), ("disabled", disabledByStatus.values.reduce(0, +)),
            ("still_refused", stillRefusedByStatus.values.reduce(0, +)), ("cooling_down", rateLimited),
            ("failing", failed), ("other_status", otherStatus), ("no_answer", noAnswer), ("revived", revived),
            ("withheld", withheld), ("total", total),
        ]
    }
}
