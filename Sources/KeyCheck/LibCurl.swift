import CCurl
import KeyStore

/// libcurl, loaded the first time a check needs it (see Sources/CCurl): every other command
/// starts without it, and a machine without it runs them all.
enum LibCurl {
    static func load() throws(KeyStoreError) {
        var error = [CChar](repeating: 0, count: 256)
        guard kc_load(&error, error.count) != 0 else { return }
        let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw .notConfigured(
            "--check needs libcurl: \(message)",
            hint: "install it: apt-get install libcurl4 on Debian and Ubuntu, dnf install libcurl elsewhere")
    }
}

/// One request: libcurl's handle, its header list and what its callbacks saw, freed together.
final class Transfer {
    let handle: UnsafeMutableRawPointer
    private let headers: UnsafeMutableRawPointer?
    private let capture: UnsafeMutablePointer<kc_capture>

    /// A GET of `url` with `headerLines`; `nil` when libcurl refuses the options (out of memory).
    init?(url: String, headerLines: [String], timeout: Duration, caFile: String?, userAgent: String, bodyLimit: Int) {
        capture = UnsafeMutablePointer<kc_capture>.allocate(capacity: 1)
        capture.initialize(to: kc_capture())
        capture.pointee.body_limit = Int64(bodyLimit)
        var list: UnsafeMutableRawPointer?
        for line in headerLines {
            guard let longer = kc_headers_append(list, line) else {
                kc_headers_free(list)
                capture.deallocate()
                return nil
            }
            list = longer
        }
        headers = list
        guard let handle = kc_transfer_new(url, list, timeout.wholeMillisecondsForCurl, caFile, userAgent, capture)
        else {
            kc_headers_free(list)
            capture.deallocate()
            return nil
        }
        self.handle = handle
    }

    deinit {
        kc_transfer_free(handle)
        kc_headers_free(headers)
        capture.deallocate()
    }

    /// The answer's HTTP status; 0 when none came.
    var status: Int { kc_transfer_status(handle) }
    /// From the start of the request to its end.
    var elapsed: Duration { .microseconds(kc_transfer_microseconds(handle)) }
    /// The answer's `Retry-After` and `Date` headers, when it had them.
    var retryAfter: String? { Self.text(kc_capture_retry_after(capture)) }
    var date: String? { Self.text(kc_capture_date(capture)) }
    var location: String? { Self.text(kc_capture_location(capture)) }
    /// The body's first kilobyte.
    var bodyHead: String { String(cString: kc_capture_body_head(capture)) }

    private static func text(_ pointer: UnsafePointer<CChar>) -> String? {
        let text = String(cString: pointer)
        return text.isEmpty ? nil : text
    }
}

/// Transfers that run together, on this thread (libcurl's multi interface): as many at once as
/// are added, each driven by `perform` and `wait`.
final class TransferGroup {
    private let multi: UnsafeMutableRawPointer
    private var running: [UnsafeMutableRawPointer: Transfer] = [:]

    init?() {
        guard let multi = kc_multi_new() else { return nil }
        self.multi = multi
    }

    deinit {
        removeAll()
        kc_multi_free(multi)
    }

    var count: Int { running.count }

    func add(_ transfer: Transfer) -> Bool {
        guard kc_multi_add(multi, transfer.handle) == 0 else { return false }
        running[transfer.handle] = transfer
        return true
    }

    /// Moves every transfer on as far as it goes without waiting.
    func perform() {
        var stillRunning: Int32 = 0
        _ = kc_multi_perform(multi, &stillRunning)
    }

    /// Waits at most `milliseconds` for a transfer to have something to do.
    func wait(milliseconds: Int32) {
        _ = kc_multi_wait(multi, milliseconds)
    }

    /// The transfers that have ended since the last call, with how each ended.
    func finished() -> [(transfer: Transfer, outcome: kc_outcome, code: Int32)] {
        var ended: [(transfer: Transfer, outcome: kc_outcome, code: Int32)] = []
        var outcome = KC_OTHER_FAILURE
        var code: Int32 = 0
        while let handle = kc_multi_next_finished(multi, &outcome, &code) {
            guard let transfer = running.removeValue(forKey: handle) else { continue }
            _ = kc_multi_remove(multi, handle)
            ended.append((transfer, outcome, code))
        }
        return ended
    }

    /// Stops every transfer that has not ended.
    func removeAll() {
        for handle in running.keys { _ = kc_multi_remove(multi, handle) }
        running.removeAll()
    }
}
