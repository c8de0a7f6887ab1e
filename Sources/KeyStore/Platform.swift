// The key store's only contact with the C library: reading descriptors and files, the
// environment, and sleeping between migration lock attempts.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything readable from `descriptor` up to its end, or `nil` on a read error. Stops once
/// more than `limit` bytes have come, so a mistaken multi-gigabyte input is not slurped.
public func readAll(from descriptor: Int32, limit: Int) -> [UInt8]? {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count <= limit {
        let count = read(descriptor, &buffer, buffer.count)
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return bytes
}

/// The descriptor of standard input.
public let standardInputDescriptor: Int32 = STDIN_FILENO

/// A variable of the process environment, as it is (empty included).
func processEnvironment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Seconds since 1970-01-01T00:00:00Z by the machine's clock.
func currentSecondsSinceEpoch() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec)
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

func sleep(for duration: Duration) {
    var request = timespec(
        tv_sec: Int(duration.components.seconds), tv_nsec: Int(duration.components.attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// The whole file at `path` (at most `limit` bytes), or `nil` if it cannot be read. Also says
/// whether other users of the machine may read it.
func readFile(_ path: String, limit: Int) -> (bytes: [UInt8], readableByOthers: Bool)? {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var status = stat()
    let readableByOthers = fstat(descriptor, &status) == 0 && (status.st_mode & 0o044) != 0
    guard let bytes = readAll(from: descriptor, limit: limit) else { return nil }
    return (bytes, readableByOthers)
}

/// A C stream read line by line with `getline`, through one reused buffer; closed when released.
final class LineReader {
    enum OpenFailure: Error {
        case cannotOpen(reason: String)
        case isDirectory
    }

    private let file: UnsafeMutablePointer<FILE>
    private let closesFile: Bool
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0

    /// Standard input; `nil` if it cannot be read as a stream.
    init?() {
        guard let input = fdopen(STDIN_FILENO, "r") else { return nil }
        file = input
        closesFile = false
    }

    init(path: String) throws(OpenFailure) {
        guard let opened = fopen(path, "r") else { throw .cannotOpen(reason: String(cString: strerror(errno))) }
        var status = stat()
        if fstat(fileno(opened), &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            fclose(opened)
            throw .isDirectory
        }
        file = opened
        closesFile = true
    }

    deinit {
        free(buffer)
        if closesFile { fclose(file) }
    }

    /// Calls `body` with the next line (without its newline) and returns `true`, or returns
    /// `false` at the end.
    func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows -> Bool {
        let length = getline(&buffer, &capacity, file)
        guard length >= 0, let buffer else { return false }
        var count = length
        if count > 0, buffer[count - 1] == 0x0A { count -= 1 }
        return try buffer.withMemoryRebound(to: UInt8.self, capacity: count) { bytes in
            try body(UnsafeBufferPointer(start: bytes, count: count))
            return true
        }
    }
}
