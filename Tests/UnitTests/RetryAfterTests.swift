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

/// The host a redirect names, as `--check` shows it: never a path, a query or user info.
@Suite struct RedirectHostTests {
    @Test func onlyTheHostIsKept() {
        #expect(ProbeOutcome.host(of: "https://api.example.com/v2/models?x=1") == "api.example.com")
        #expect(ProbeOutcome.host(of: "https://user:secret@h.example:8443/p") == "h.example:8443")
        #expect(ProbeOutcome.host(of: "http://[::1]:8080/") == "[::1]:8080")
        #expect(ProbeOutcome.host(of: "/v2/models") == nil)
        #expect(ProbeOutcome.host(of: "https://bad host/") == nil)
        #expect(ProbeOutcome.host(of: nil) == nil)
    }
}
