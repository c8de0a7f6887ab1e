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
