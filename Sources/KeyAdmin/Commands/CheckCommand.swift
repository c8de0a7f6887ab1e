import KeyCheck
import KeyStore

/// `--check PROVIDER [--force] [--key NUM] [--revive] [--concurrency N] [--timeout SECONDS]`:
/// asks the provider about each key and records the answers, a line per key as they come (the
/// run is `CheckRun`'s, the lines its renderer's).
///
/// Exit 0 when every key answered 2xx, 5 when some answered otherwise, 6 when some got no
/// answer at all (nothing is known about those), 130 after Ctrl-C (143 after SIGTERM).
struct CheckCommand: KeyAdminCommand, Equatable {
    static let entry = CommandEntry(
        values: [.provider], help: "ask the provider whether each key works, and record the answers", writes: true,
        example: "keyadmin --check openai --revive       # ask about every key; enable those that work again"
    ) { values, modifiers throws(UsageError) in
        CheckCommand(name: try values.provider(), options: try modifiers.checkOptions())
    }

    let name: ProviderName
    let options: CheckOptions

    func run(_ context: CommandContext) throws(KeyStoreError) -> CommandResult {
        var options = options
        options.caFile = environmentVariable("SSL_CERT_FILE")
        let check = try CheckRun(
            store: context.store, provider: name, options: options, userAgent: "keyadmin/\(KeyAdminVersion.current)")
        let verdict = Verdict()
        var result = CommandResult.streamed { stream throws(KeyStoreError) in
            stream.open()
            let renderer: any CheckRenderer =
                stream.json.map { CheckJSONRenderer(json: $0) } ?? CheckTextRenderer(stream: stream)
            let progress = ProgressLine(
                enabled: context.printer.err.isTerminal, output: context.printer.err, name: name)
            renderer.begin(check, options: options)
            stopOnInterrupt()
            let summary = try check.run(
                shouldStop: { interruptSignal() != nil },
                progress: { summary in
                    if stream.json == nil { stream.output.flush() }
                    progress.show(summary)
                },
                report: { result in
                    progress.clear()
                    renderer.result(result)
                })
            progress.clear()
            renderer.end(summary, plan: check.plan, revive: options.revive)
            verdict.failure = summary.verdict.map {
                failure($0, summary, shown: stream.json == nil ? "the table" : "keys")
            }
        }
        result.verdict = verdict
        return result
    }

    /// How a check that fell short ends; `shown`: where the answers are, "the table" or
    /// (`--json`) "keys".
    private func failure(_ verdict: CheckVerdict, _ summary: CheckSummary, shown: String) -> CommandFailure {
        switch verdict {
        case .interrupted:
            CommandFailure(
                message: "interrupted: \(summary.checked) of \(summary.total) keys checked; their answers are recorded",
                hint: nil, status: interruptedStatus())
        case .everyKeyRefused:
            CommandFailure(
                message: "every key asked was refused (\(summary.withheld)), so none was disabled: "
                    + "is the endpoint right, or is the account out of credit?",
                hint: "keyadmin --set-endpoint fixes the endpoint; --force records the refusals",
                status: .keysFailedCheck)
        case .redirected(let host):
            CommandFailure(
                message: "the endpoint redirected \(summary.redirected) of \(summary.checked) requests"
                    + (host.map { " (to \($0))" } ?? "") + "; a key is never sent on, so nothing is known about those",
                hint: "keyadmin --set-endpoint \(name) with the URL it points to", status: .checkIncomplete)
        case .someGotNoAnswer:
            CommandFailure(
                message: "\(summary.noAnswer) of \(summary.checked) keys got no answer; nothing is known about them"
                    + (summary.redirected > 0
                        ? " (\(summary.redirected) redirected\(summary.redirectHost.map { " to \($0)" } ?? ""))" : ""),
                hint: "see \(shown); check the endpoint and the network, or raise --timeout", status: .checkIncomplete)
        case .someAnsweredNot2xx:
            CommandFailure(
                message: "\(summary.unsuccessfulAnswers) of \(summary.checked) keys did not answer 2xx",
                hint: "see \(shown); the pool now reflects the answers", status: .keysFailedCheck)
        }
    }
}
