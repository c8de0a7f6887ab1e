import KeyStore

// Whether each provider has keys to give.
extension Doctor {
    func poolHealth() throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for pool in try store.poolHealth() {
            let name = pool.provider
            let total = pool.keyCount
            let available = pool.availableCount
            if total == 0 {
                // Just added: nothing is broken yet, but nothing can be drawn either.
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name, "no keys yet", fix: .addKeys(provider: name)))
            } else if available == 0 {
                // Resting keys come back by themselves: say which kind of rest, and until when to look.
                let resting = [
                    pool.exhaustedCount > 0 ? "\(pool.exhaustedCount) exhausted until the daily reset" : nil,
                    pool.coolingCount > 0 ? "\(pool.coolingCount) cooling down" : nil,
                ].compactMap { $0 }.joined(separator: ", ")
                findings.append(
                    DoctorFinding(
                        "pool health", .fail, name,
                        "no available key (\(total) key\(total == 1 ? "" : "s")\(resting.isEmpty ? "" : ": " + resting))",
                        fix: .inspectKeys(provider: name, state: pool.exhaustedCount > 0 ? .exhausted : nil)))
            } else if available * 2 < total {
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name, "only \(available) of \(total) keys available",
                        fix: .inspectKeys(provider: name, state: nil)))
            } else {
                findings.append(DoctorFinding("pool health", .ok, name, "\(available) of \(total) keys available"))
            }
            if let primary = pool.primaryTier, let serving = pool.servingTier, serving > primary {
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name,
                        "tier \(primary) has no available key: tier \(serving) serves (the pool is on its backups)",
                        fix: .inspectKeys(provider: name, state: nil)))
            }
            if !pool.expiringSoon.isEmpty {
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name, "keys expiring within 7 days: \(Self.numbers(pool.expiringSoon))",
                        fix: .replaceExpiringKeys(provider: name)))
            }
            if !pool.disabledAutomatically.isEmpty {
                findings.append(
                    DoctorFinding(
                        "pool health", .warn, name,
                        "keys disabled automatically (a 401, 402 or 403 reported): "
                            + Self.numbers(pool.disabledAutomatically),
                        fix: .inspectKeys(provider: name, state: .disabled)))
            }
        }
        return findings
    }

    /// "#1, #4, #9"
    static func numbers(_ numbers: [Int]) -> String {
        numbers.map { "#\($0)" }.joined(separator: ", ")
    }
}
