import KeyStore

/// Prometheus' text exposition format, version 0.0.4: for each metric a HELP and a TYPE line,
/// then its samples; label values escaped (backslash, double quote, newline). Names follow the
/// naming practices: a `keyadmin_` prefix, counters end in `_total`, base units.
enum PrometheusText {
    static func render(_ metrics: PoolMetrics) -> String {
        var out = ""
        func family(
            _ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: Int)]
        ) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples {
                let labels = sample.labels.map { "\($0.0)=\"\(escaped($0.1))\"" }.joined(separator: ",")
                out += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(sample.value)\n"
            }
        }
        family(
            "keyadmin_keys", "gauge",
            "Keys per provider, tier and state (available, cooling_down, exhausted, disabled, expired).",
            metrics.keys.map {
                ([("provider", $0.provider), ("tier", String($0.tier)), ("state", $0.state.rawValue)], $0.count)
            })
        family(
            "keyadmin_requests_total", "counter",
            "Requests backends reported per provider and outcome (success 2xx, rate_limited 429, refused 401/402/403, failed 408/5xx, other).",
            metrics.providers.flatMap { provider in
                provider.counts.byOutcome.map {
                    ([("provider", provider.provider), ("outcome", $0.outcome.rawValue)], $0.count)
                }
            })
        family(
            "keyadmin_tokens_total", "counter", "Tokens backends reported per provider.",
            metrics.providers.map { ([("provider", $0.provider)], $0.counts.tokens) })
        family(
            "keyadmin_exhausted_accounts", "gauge",
            "Accounts of the provider (a key without one is its own) resting until the provider's daily reset.",
            metrics.providers.map { ([("provider", $0.provider)], $0.exhaustedAccounts) })
        let quotas = metrics.providers.filter { $0.quota.requests != nil }
        family(
            "keyadmin_quota_requests_per_day", "gauge",
            "The daily budget of requests of each account of the provider, where set.",
            quotas.map { ([("provider", $0.provider)], $0.quota.requests ?? 0) })
        return out
    }

    static func escaped(_ value: String) -> String {
        var text = ""
        for character in value {
            switch character {
            case "\\": text += "\\\\"
            case "\"": text += "\\\""
            case "\n": text += "\\n"
            default: text.append(character)
            }
        }
        return text
    }
}
