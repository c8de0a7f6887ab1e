import Testing

@testable import KeyCheck

/// `Retry-After` as providers send it: seconds, or an HTTP date.
@Suite struct RetryAfterTests {
    @Test func secondsAreTakenAsTheyAre() {
        #expect(RetryAfter.seconds("30", answeredAt: nil) == 30)
        #expect(RetryAfter.seconds(" 0 ", answeredAt: nil) == 0)
        #expect(RetryAfter.seconds("99999999999999", answeredAt: nil) == 999_999_999)
    }

    @Test func aDateIsMeasuredFromTheAnswersOwnDate() {
        // The answer's clock, not this machine's: a date an hour in this machine's past still
        // means two minutes when the answer says it was sent two minutes before.
        #expect(
            RetryAfter.seconds("Sun, 06 Nov 1994 08:51:37 GMT", answeredAt: "Sun, 06 Nov 1994 08:49:37 GMT") == 120)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:48:37 GMT", answeredAt: "Sun, 06 Nov 1994 08:49:37 GMT") == 0)
    }

    @Test func anythingElseIsNoRetryAfter() {
        for text in ["", "soon", "-5", "1.5", "Sunday, 06-Nov-94 08:49:37 GMT"] {
            #expect(RetryAfter.seconds(text, answeredAt: nil) == nil, "\(text)")
        }
    }
}
