import KeyDoctor
import KeyStore

/// `--doctor [--strict]`: one line per finding, `ok`, `warn` or `FAIL`, with the object and
/// the fix; the report is printed whatever the verdict, then the exit code says it.
struct DoctorCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [], help: "check that the keys are safe and the pools healthy: ok, warn or FAIL per check",
        writes: false,
        example: "keyadmin --doctor --strict"
    ) { _, modifiers throws(UsageError) in
        DoctorCommand(strict: modifiers.has(.strict))
    }

    let strict: Bool

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        let findings = try Doctor(store: context.store).run()
        let counts = (
            ok: findings.filter { $0.status == .ok }.count, warn: findings.filter { $0.status == .warn }.count,
            fail: findings.filter { $0.status == .fail }.count
        )
        var result = CommandResult.streamed { stream in
            if let json = stream.json {
                json.members([
                    JSONMember(
                        "summary",
                        .object([
                            JSONMember("ok", .number(counts.ok)), JSONMember("warn", .number(counts.warn)),
                            JSONMember("fail", .number(counts.fail)),
                        ])),
                    JSONMember("checks", .array(findings.map(Self.object))),
                ])
                return
            }
            for finding in findings { stream.line(Self.describe(finding, colour: stream.usesColour)) }
            stream.line("\(counts.ok) ok, \(counts.warn) warn, \(counts.fail) FAIL")
        }
        let failed = counts.fail + (strict ? counts.warn : 0)
        if failed > 0 {
            result.verdict = Verdict(
                CommandFailure(
                    message: "\(failed) check\(failed == 1 ? "" : "s") \(strict ? "failed or warned" : "failed")",
                    hint: context.json
                        ? "see the checks whose status is not ok; each names its fix"
                        : "see the lines marked above; each names its fix",
                    status: .failure))
        }
        return result
    }

    static func object(_ finding: DoctorFinding) -> JSONValue {
        .object([
            JSONMember("check", .string(finding.check)), JSONMember("status", .string(finding.status.rawValue)),
            JSONMember("object", .string(finding.object)), JSONMember("message", .string(finding.message)),
            JSONMember("fix", .text(finding.fix.map { text(of: $0) })),
        ])
    }

    static func describe(_ finding: DoctorFinding, colour: Bool) -> String {
        let label =
            switch finding.status {
            case .ok: "ok  "
            case .warn: Style.bold.apply("warn", when: colour)
            case .fail: Style.red.apply("FAIL", when: colour)
            }
        var line = "\(label)  \(finding.check): \(finding.object): \(finding.message)"
        if let fix = finding.fix, finding.status != .ok { line += "  (fix: \(text(of: fix)))" }
        return line
    }

    /// A fix in this tool's words: the statement, or the keyadmin command that mends it.
    static func text(of fix: DoctorFix) -> String {
        switch fix {
        case .sql(let statement): statement
        case .advice(let words): words
        case .applyMigrations: "keyadmin --migrate"
        case .upgradeTool: "upgrade keyadmin"
        case .addKeys(let provider): "keyadmin --add-key \(provider) -"
        case .inspectKeys(let provider, nil): "keyadmin --list --provider \(provider)"
        case .inspectKeys(let provider, let state?):
            "keyadmin --list --provider \(provider) --state \(state.rawValue)"
        case .replaceExpiringKeys(let provider): "keyadmin --update-key \(provider) NUM - (a new key), or --set-expiry"
        case .reviewEndpoint(let provider):
            "keyadmin --history --provider \(provider) shows who set it; keyadmin --set-endpoint \(provider) URL "
                + "(or default)"
        }
    }
}
