import KeyStore

/// `--usage --json`: the numbers behind the chart.
struct UsageJSONRenderer {
    let json: JSONWriter

    func render(_ report: UsageReport, filter: UsageFilter) {
        json.members([
            JSONMember("provider", .text(filter.provider?.rawValue)),
            JSONMember("key_number", filter.keyNumber.map { .number($0) } ?? .null),
            JSONMember("account", .text(filter.account?.rawValue)),
            JSONMember(
                "days",
                .array(report.days.map { .object([JSONMember("day", .string($0.day))] + Self.counts($0.counts)) })),
            JSONMember(
                "busiest_keys",
                .array(
                    report.busiestKeys.map {
                        .object(
                            [
                                JSONMember("provider", .string($0.provider)),
                                JSONMember("number", $0.keyNumber.map { .number($0) } ?? .null),
                                JSONMember("fingerprint", .text($0.fingerprint)),
                                JSONMember("account", .text($0.account)),
                            ] + Self.counts($0.counts))
                    })),
            JSONMember(
                "busiest_accounts",
                .array(
                    report.busiestAccounts.map {
                        .object(
                            [JSONMember("provider", .string($0.provider)), JSONMember("account", .text($0.account))]
                                + Self.counts($0.counts))
                    })),
            JSONMember("exhausted_keys", .number(report.exhaustedKeys)),
            JSONMember("exhausted_accounts", .number(report.exhaustedAccounts)),
        ])
    }

    static func counts(_ counts: UsageCounts) -> [JSONMember] {
        [JSONMember("requests", .number(counts.requests))]
            + counts.byOutcome.map { JSONMember($0.outcome.rawValue, .number($0.count)) }
            + [JSONMember("tokens", .number(counts.tokens))]
    }
}
