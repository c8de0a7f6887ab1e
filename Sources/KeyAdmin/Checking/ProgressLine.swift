import KeyCheck
import KeyStore

/// "checking openai: 412/1000, 3 not ok", redrawn on stderr while a check runs on a terminal.
struct ProgressLine {
    let enabled: Bool
    let output: BufferedOutput
    let name: ProviderName

    func show(_ summary: CheckSummary) {
        guard enabled else { return }
        let notOK = summary.checked - summary.succeeded
        output.write("\r\u{1B}[Kchecking \(name): \(summary.checked)/\(summary.total), \(notOK) not ok")
        output.flush()
    }

    func clear() {
        guard enabled else { return }
        output.write("\r\u{1B}[K")
        output.flush()
    }
}
