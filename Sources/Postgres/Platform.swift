// The Postgres layer's only contact with the C library: environment variables, C string
// arrays for libpq, waiting on the server's socket, and the thread a cancel request runs on.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A variable of the process environment; `nil` when unset or empty, as libpq treats both.
func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}

/// Calls `body` with a NULL-terminated array of C strings that live for the duration of the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { buffer in
        // A non-empty array always has a base address.
        guard let base = buffer.baseAddress else { preconditionFailure("empty C string array") }
        return base.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { body($0) }
    }
}

/// Like `withCStringArray`, with `nil` elements passed as NULL (SQL NULL parameters).
func withOptionalCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    if strings.isEmpty { return body(nil) }
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return body(nil) }
        return base.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { body($0) }
    }
}

/// Waits until `socket` is readable or `deadline` passes; `false` when it passed. An error
/// other than an interruption counts as readable, so that libpq reports what broke.
func waitUntilReadable(_ socket: Int32, until deadline: Deadline) -> Bool {
    while true {
        let remaining = deadline.remainingMilliseconds
        if remaining <= 0 { return false }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let count = poll(&descriptor, 1, Int32(clamping: remaining))
        if count > 0 { return true }
        if count == 0 { return false }
        if errno != EINTR { return true }
    }
}

/// Runs `body(argument)` on a detached thread of its own; `false` if no thread could start.
/// A plain pthread rather than Dispatch: linking libdispatch cost every start of the tool
/// about a millisecond for a thread that is almost never needed.
func runDetached(
    _ argument: UnsafeMutableRawPointer,
    _ body: @escaping @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?
) -> Bool {
    var thread = pthread_t()
    guard pthread_create(&thread, nil, body, argument) == 0 else { return false }
    pthread_detach(thread)
    return true
}
