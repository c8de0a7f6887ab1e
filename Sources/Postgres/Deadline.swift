/// A point in time on the monotonic clock, for waits that must end.
struct Deadline {
    private let end: ContinuousClock.Instant

    init(after duration: Duration) {
        end = .now + duration
    }

    var remainingMilliseconds: Int {
        (end - .now).wholeMilliseconds
    }
}

extension Duration {
    /// Whole milliseconds, rounded down: what libpq and PostgreSQL's settings take.
    public var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
