import KeyStore

/// `--doctor`: one line per finding, `ok`, `warn` or `FAIL`, with the object and the fix.
struct DoctorPrinter {
    let json: Bool
    let out: OutputStream
    let database: DatabaseTarget

    func print(_ findings: [DoctorFinding]) {
        let counts = (
            ok: findings.filter { $0.status == .ok }.count, warn: findings.filter { $0.status == .warn }.count,
            fail: findings.filter { $0.status == .fail }.count
        )
        if json {
            let items = findings.map { finding in
                "{\"check\":\(JSON.string(finding.check)),\"status\":\(JSON.string(finding.status.rawValue))"
                    + ",\"object\":\(JSON.string(finding.object)),\"message\":\(JSON.string(finding.message))"
                    + ",\"fix\":\(finding.fix.map(JSON.string) ?? "null")}"
            }
            out.line(
                "{\"database\":\(JSON.string(database.address)),\"database_source\":\(JSON.string(database.source))"
                    + ",\"summary\":{\"ok\":\(counts.ok),\"warn\":\(counts.warn),\"fail\":\(counts.fail)}"
                    + ",\"checks\":[\(items.joined(separator: ","))]}")
            return
        }
        let colour = out.usesColour
        out.line(Style.dim.apply("database: \(database.label)", when: colour))
        for finding in findings {
            let label =
                switch finding.status {
                case .ok: "ok  "
                case .warn: Style.bold.apply("warn", when: colour)
                case .fail: Style.red.apply("FAIL", when: colour)
                }
            var line = "\(label)  \(finding.check): \(finding.object): \(finding.message)"
            if let fix = finding.fix, finding.status != .ok { line += "  (fix: \(fix))" }
            out.line(line)
        }
        out.line("\(counts.ok) ok, \(counts.warn) warn, \(counts.fail) FAIL")
    }
}
