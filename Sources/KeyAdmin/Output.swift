#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writes to a file descriptor. Listing 100,000 keys is one `write` per 64 KiB,
/// not one per line.
///
/// A held stream (stdout under `--json`) writes nothing until `release()`: scripts get one
/// whole JSON document or nothing, even when the command fails half-way through a listing.
/// Past 1 MiB the held text goes to an unlinked temporary file, so memory stays flat.
final class OutputStream {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var isHeld = false
    private var spill: UnsafeMutablePointer<FILE>?

    // The tool is single-threaded; these are its two output streams.
    nonisolated(unsafe) static let standardOutput = OutputStream(descriptor: STDOUT_FILENO)
    nonisolated(unsafe) static let standardError = OutputStream(descriptor: STDERR_FILENO)

    init(descriptor: Int32) {
        self.descriptor = descriptor
        buffer.reserveCapacity(1 << 16)
    }

    var isTerminal: Bool { isatty(descriptor) == 1 }

    /// Colour only on a terminal, never when NO_COLOR is set (no-color.org) or TERM=dumb.
    var usesColour: Bool {
        guard isTerminal else { return false }
        if let noColour = getenv("NO_COLOR"), noColour.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return true
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= (isHeld ? 1 << 20 : 1 << 16) { flush() }
    }

    func line(_ text: String) {
        write(text)
        write("\n")
    }

    /// From now on nothing reaches the descriptor until `release()`.
    func hold() { isHeld = true }

    /// Writes everything held, then stops holding.
    func release() {
        isHeld = false
        if let spill {
            fflush(spill)
            rewind(spill)
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, spill) }
                if count == 0 { break }
                writeAll(chunk[..<count])
            }
            fclose(spill)
            self.spill = nil
        }
        flush()
    }

    /// Drops everything held: the command failed, and half a document is worse than none.
    func discardHeld() {
        guard isHeld else { return }
        buffer.removeAll(keepingCapacity: true)
        if let spill { fclose(spill) }
        spill = nil
    }

    func flush() {
        if isHeld {
            if spill == nil { spill = tmpfile() }
            if let spill {
                _ = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, spill) }
                buffer.removeAll(keepingCapacity: true)
            }
            return
        }
        writeAll(buffer[...])
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: ArraySlice<UInt8>) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                writeToDescriptor(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                break  // a closed pipe: nothing more can be shown
            }
            offset += written
        }
    }

    deinit { if !isHeld { flush() } }
}

/// write(2), under a name the stream's own `write(_:)` does not hide.
private func writeToDescriptor(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

enum Style: String {
    case bold = "1", dim = "2", red = "31"

    func apply(_ text: String, when enabled: Bool) -> String {
        enabled ? "\u{1B}[\(rawValue)m\(text)\u{1B}[0m" : text
    }
}

/// JSON text for the few shapes `--json` prints, written by hand to keep start-up lean.
enum JSON {
    static func string(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    enum Value {
        case string(String), number(Int), bool(Bool), null
        case array([Value])
        case object([(String, Value)])

        var text: String {
            switch self {
            case .string(let text): JSON.string(text)
            case .number(let number): String(number)
            case .bool(let flag): flag ? "true" : "false"
            case .null: "null"
            case .array(let values): "[" + values.map(\.text).joined(separator: ",") + "]"
            case .object(let members):
                "{" + members.map { JSON.string($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
            }
        }
    }
}
