import Testing

@testable import KeyCheck
@testable import KeyStore

/// The refusal guard's boundaries: a wrong endpoint or an outage answering 401 to everyone
/// must not disable a whole pool, while a small pool's real refusals are recorded.
@Suite struct RefusalGuardTests {
    static func answer(_ number: Int, _ status: Int, state: KeyState = .available) -> Answer {
        let key = APIKey(checked: "sk-guard-key-\(number)-000000")
        return Answer(
            candidate: CheckCandidate(number: number, key: key, state: state, disabledAutomatically: false),
            outcome: .answered(status: status, retryAfterSeconds: nil), elapsed: .milliseconds(5))
    }

    /// Runs the answers through a guard in one batch; what is recorded, what is withheld.
    static func outcome(_ statuses: [Int]) -> (recorded: [Int], withheld: [Int]) {
        var guardian = RefusalGuard(vouched: false)
        let answers = statuses.enumerated().map { answer($0.offset + 1, $0.element) }
        var recorded = guardian.admit(answers).map(\.candidate.number)
        let (late, withheld) = guardian.finish()
        recorded += late.map(\.candidate.number)
        return (recorded.sorted(), withheld.map(\.candidate.number).sorted())
    }

    @Test func threeRefusalsWithNothingToVouchAreWithheld() {
        #expect(Self.outcome([401, 401, 401]) == ([], [1, 2, 3]))
    }

    @Test func twoRefusalsAreRecorded() {
        #expect(Self.outcome([401, 403]) == ([1, 2], []))
    }

    @Test func a429VouchesForTheEndpoint() {
        #expect(Self.outcome([401, 401, 429, 402]) == ([1, 2, 3, 4], []))
    }

    @Test func aSuccessVouchesForTheEndpoint() {
        #expect(Self.outcome([401, 401, 401, 200]) == ([1, 2, 3, 4], []))
    }

    @Test func aFailureDoesNotVouch() {
        #expect(Self.outcome([401, 401, 401, 500]) == ([4], [1, 2, 3]))
    }

    @Test func thirtyTwoRefusalsStopTheCheck() {
        var guardian = RefusalGuard(vouched: false)
        _ = guardian.admit((1...31).map { Self.answer($0, 401) })
        #expect(!guardian.mustStop)
        _ = guardian.admit([Self.answer(32, 401)])
        #expect(guardian.mustStop)
    }

    @Test func forceRecordsEveryRefusal() {
        var guardian = RefusalGuard(vouched: true)
        #expect(guardian.admit([Self.answer(1, 401), Self.answer(2, 401), Self.answer(3, 401)]).count == 3)
    }
}
