import Testing

@testable import KeyStore

/// Times as people type them (ISO 8601) and as servers send them (HTTP dates).
@Suite struct UTCTimeTests {
    /// The three forms of an offset ISO 8601 allows name the same instant.
    @Test func offsetsInEveryISOFormAreTheSameInstant() throws {
        let extended = try #require(UTCTime(iso8601: "2026-12-31T18:00+02:00"))
        #expect(UTCTime(iso8601: "2026-12-31T18:00+0200")?.secondsSinceEpoch == extended.secondsSinceEpoch)
        #expect(UTCTime(iso8601: "2026-12-31T18:00+02")?.secondsSinceEpoch == extended.secondsSinceEpoch)
        #expect(UTCTime(iso8601: "2026-12-31T16:00Z")?.secondsSinceEpoch == extended.secondsSinceEpoch)
        #expect(UTCTime(iso8601: "2026-12-31T18:00-0230")?.secondsSinceEpoch == extended.secondsSinceEpoch + 16_200)
        for malformed in [
            "2026-12-31T18:00+2", "2026-12-31T18:00+020", "2026-12-31T18:00+02:0", "2026-12-31T18:00+1500",
        ] {
            #expect(UTCTime(iso8601: malformed) == nil, "\(malformed)")
        }
    }

    /// Leap days: every fourth year, but not centuries unless divisible by 400.
    @Test func leapDaysAreDaysOnlyInLeapYears() {
        #expect(UTCTime(iso8601: "2000-02-29") != nil)
        #expect(UTCTime(iso8601: "2400-02-29") != nil)
        #expect(UTCTime(iso8601: "2100-02-29") == nil)
        #expect(UTCTime(iso8601: "2027-02-29") == nil)
        #expect(UTCTime(httpDate: "Tue, 29 Feb 2000 12:00:00 GMT") != nil)
        #expect(UTCTime(httpDate: "Sat, 29 Feb 2400 12:00:00 GMT") != nil)
        #expect(UTCTime(httpDate: "Mon, 29 Feb 2100 12:00:00 GMT") == nil)
    }
}
