/// Buffered writes to a file descriptor. Listing 100,000 keys is one `write` per 64 KiB,
/// not one per line.
///
/// A held stream (stdout under `--json`) writes nothing until `release()`: scripts get one
/// whole JSON document or nothing, even when the command fails half-way through a listing.
/// Past 1 MiB the held text goes to an unlinked temporary file, so memory stays flat.
final class BufferedOutput {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var isHeld = false
    private var spill: SpillFile?

    // The tool is single-threaded; these are its two output streams.
    nonisolated(unsafe) static let standardOutput = BufferedOutput(descriptor: Descriptor.standardOutput)
    nonisolated(unsafe) static let standardError = BufferedOutput(descriptor: Descriptor.standardError)

    init(descriptor: Int32) {
        self.descriptor = descriptor
        buffer.reserveCapacity(1 << 16)
    }

    var isTerminal: Bool { KeyAdmin.isTerminal(descriptor) }

    /// Colour only on a terminal, never when NO_COLOR is set (no-color.org) or TERM=dumb.
    var usesColour: Bool {
        guard isTerminal else { return false }
        if environmentVariable("NO_COLOR") != nil { return false }
        return environmentVariable("TERM") != "dumb"
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= (isHeld ? 1 << 20 : 1 << 16) { flush() }
    }

    func line(_ text: String) {
        write(text)
        write(byte: 0x0A)
    }

    func write(byte: UInt8) {
        buffer.append(byte)
        if buffer.count >= (isHeld ? 1 << 20 : 1 << 16) { flush() }
    }

    /// Appends without checking the size: for a writer that calls `flushIfFull()` itself, once
    /// per value rather than once per byte.
    func appendUnchecked(_ byte: UInt8) { buffer.append(byte) }

    func appendUnchecked(_ bytes: some Collection<UInt8>) { buffer.append(contentsOf: bytes) }

    func flushIfFull() {
        if buffer.count >= (isHeld ? 1 << 20 : 1 << 16) { flush() }
    }

    /// From now on nothing reaches the descriptor until `release()`.
    func hold() { isHeld = true }

    /// Writes everything held, then stops holding.
    func release() {
        isHeld = false
        if let spill {
            spill.replay { writeAll($0, to: descriptor) }
            self.spill = nil
        }
        flush()
    }

    /// Drops everything held: the command failed, and half a document is worse than none.
    func discardHeld() {
        guard isHeld else { return }
        buffer.removeAll(keepingCapacity: true)
        spill = nil
    }

    func flush() {
        if isHeld {
            if spill == nil { spill = SpillFile() }
            if let spill {
                spill.append(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            return
        }
        writeAll(buffer[...], to: descriptor)
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { if !isHeld { flush() } }
}

enum Style: String {
    case bold = "1"
    case dim = "2"
    case red = "31"

    func apply(_ text: String, when enabled: Bool) -> String {
        enabled ? "\u{1B}[\(rawValue)m\(text)\u{1B}[0m" : text
    }
}
