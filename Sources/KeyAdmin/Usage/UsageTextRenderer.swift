import KeyStore

/// `--usage` for people: the chart, the totals, the busiest keys and accounts, what is exhausted.
struct UsageTextRenderer {
    let chart: UsageChart

    func lines(_ report: UsageReport, filter: UsageFilter) -> [String] {
        var scope = filter.provider.map { "\($0)" } ?? "every provider"
        if let number = filter.keyNumber { scope += " key #\(number)" }
        if let account = filter.account { scope += " account \(account)" }
        var lines = ["\(scope): requests per day, the last \(filter.days) day\(filter.days == 1 ? "" : "s")"]
        let total = report.days.reduce(into: UsageCounts()) { $0.add($1.counts) }
        if total.requests == 0 {
            lines.append("  no requests reported (backends report with report_api_key_result)")
        } else {
            lines.append("  " + chart.legend())
            lines += chart.lines(report.days).map { "  " + $0 }
            lines.append("  total: " + Self.describe(total))
        }
        if !report.busiestKeys.isEmpty {
            lines.append("busiest keys")
            lines += report.busiestKeys.map { leader in
                let key =
                    leader.keyNumber.map { "#\($0) [\(leader.fingerprint ?? "")]" } ?? "a deleted key"
                let account = leader.account.map { " account \($0)" } ?? ""
                return "  \(leader.provider) \(key)\(account): " + Self.describe(leader.counts)
            }
        }
        if !report.busiestAccounts.isEmpty {
            lines.append("busiest accounts")
            lines += report.busiestAccounts.map { "  \($0.provider) \($0.account ?? ""): " + Self.describe($0.counts) }
        }
        lines.append(
            report.exhaustedKeys == 0
                ? "exhausted now: none"
                : "exhausted now: \(report.exhaustedKeys) key\(report.exhaustedKeys == 1 ? "" : "s") in "
                    + "\(report.exhaustedAccounts) account\(report.exhaustedAccounts == 1 ? "" : "s")")
        return lines
    }

    /// "1,234 requests (1,200 2xx, 34 429), 45,678 tokens"
    static func describe(_ counts: UsageCounts) -> String {
        let parts = counts.byOutcome.filter { $0.count > 0 }.map { "\($0.count.grouped) \($0.outcome.statuses)" }
        return "\(counts.requests.grouped) request\(counts.requests == 1 ? "" : "s")"
            + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
            + (counts.tokens > 0 ? ", \(counts.tokens.grouped) tokens" : "")
    }
}
