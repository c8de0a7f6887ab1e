import CCurl
import KeyStore

/// What a provider said about one key, or why it said nothing.
public enum ProbeOutcome: Sendable, Equatable {
    /// An HTTP answer; `retryAfterSeconds` from its `Retry-After`, when it had one.
    case answered(status: Int, retryAfterSeconds: Int?)
    /// An answer whose status is not a refusal, but whose body says the key is invalid: Google
    /// answers a bad key with 400 and `API_KEY_INVALID`. Recorded as a 401.
    case keyRejected(status: Int, reason: String)
    /// A redirect, not followed (the key would go with it): the endpoint is wrong. `toHost`:
    /// the host its Location names (no path, no user info), `nil` for the same host or none.
    case redirected(status: Int, toHost: String?)
    /// No answer within the time limit.
    case timedOut
    /// No answer: the host was not reached, TLS failed, or the connection broke. `reason` is
    /// libcurl's, which holds no URL and no header.
    case noAnswer(reason: String)

    /// The status, when there was an answer.
    public var httpStatus: Int? {
        switch self {
        case .answered(let status, _), .redirected(let status, _), .keyRejected(let status, _): status
        case .timedOut, .noAnswer: nil
        }
    }

    /// A status `report_api_key_result` takes: an answer that is not a redirect.
    public var recordableStatus: Int? {
        switch self {
        case .answered(let status, _): status
        case .keyRejected: 401
        case .redirected, .timedOut, .noAnswer: nil
        }
    }

    /// The host of a redirect's Location, for the message that names it: `https://u:p@h:8443/x`
    /// gives `h:8443`. `nil` for a relative Location, or one whose host `EndpointURL` would not
    /// take or that is shaped like a key (it is the server's text, shown to an operator).
    static func host(of location: String?) -> String? {
        guard let location, let scheme = location.firstRange(of: "://") else { return nil }
        var authority = location[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let parts = authority.split { $0 == "." || $0 == ":" }
        guard authority.count <= 260, EndpointURL.host(ofAuthority: authority) != nil,
            !parts.contains(where: { KeyShape.looksLikeKey(String($0)) })
        else { return nil }
        return String(authority)
    }

    /// The key answered 2xx.
    public var isSuccess: Bool { recordableStatus.map { (200...299).contains($0) } ?? false }

    init(_ transfer: Transfer, outcome: kc_outcome, code: Int32, style: APIStyle) {
        switch outcome {
        case KC_ANSWERED:
            let status = transfer.status
            if style == .google && status == 400 && transfer.bodyHead.contains("API_KEY_INVALID") {
                self = .keyRejected(status: status, reason: "API_KEY_INVALID")
            } else if (300...399).contains(status) {
                self = .redirected(status: status, toHost: Self.host(of: transfer.location))
            } else {
                self = .answered(
                    status: status,
                    retryAfterSeconds: transfer.retryAfter.flatMap { RetryAfter.seconds($0, answeredAt: transfer.date) }
                )
            }
        case KC_TIMED_OUT: self = .timedOut
        case KC_TLS_FAILED: self = .noAnswer(reason: "TLS failed: \(String(cString: kc_error_text(code)))")
        case KC_CONNECT_FAILED: self = .noAnswer(reason: String(cString: kc_error_text(code)))
        case KC_CONNECTION_BROKEN:
            self = .noAnswer(reason: "connection broken: \(String(cString: kc_error_text(code)))")
        default: self = .noAnswer(reason: String(cString: kc_error_text(code)))
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date. A date is measured against the answer's own `Date`
/// header when it has one, so that a clock that is off on either side does not matter.
enum RetryAfter {
    static func seconds(_ value: String, answeredAt date: String?) -> Int? {
        let text = value.trimmingASCIIWhitespace()
        if !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            return min(Int(text.prefix(12)) ?? 0, 999_999_999)
        }
        guard let until = UTCTime(httpDate: text) else { return nil }
        let now = date.flatMap(UTCTime.init(httpDate:)) ?? .now
        return Int(max(0, until.secondsSinceEpoch - now.secondsSinceEpoch))
    }
}
