import KeyStore

extension Int {
    /// 1500 → "1,500": counts as people read them.
    var grouped: String {
        let digits = String(magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (self < 0 ? "-" : "") + out
    }
}

extension DailyQuota {
    /// "1,500 requests and 2,000,000 tokens a day", or "none".
    var sentence: String {
        let parts = [requests.map { "\($0.grouped) requests" }, tokens.map { "\($0.grouped) tokens" }].compactMap {
            $0
        }
        return parts.isEmpty ? "none" : parts.joined(separator: " and ") + " a day"
    }
}
