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
