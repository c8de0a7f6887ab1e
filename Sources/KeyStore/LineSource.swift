/// Lines of bulk input, handed out one at a time as raw bytes (without the newline), so that a
/// million keys stream through one reused buffer and invalid UTF-8 can be reported, not crashed on.
public protocol LineSource {
    /// Calls `body` with the next line and returns `true`, or returns `false` at the end.
    mutating func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool
}

/// Lines read from a file or standard input.
public final class FileLineSource: LineSource {
    private let reader: LineReader

    /// Standard input.
    public init() throws(KeyStoreError) {
        guard let reader = LineReader() else {
            throw .unreadableInput("cannot read standard input", file: nil)
        }
        self.reader = reader
    }

    /// The file at `path`.
    public init(path: String) throws(KeyStoreError) {
        do {
            reader = try LineReader(path: path)
        } catch {
            switch error {
            case .cannotOpen(let reason):
                throw .unreadableInput("cannot open \(path): \(reason)", file: path)
            case .isDirectory:
                throw .unreadableInput("\(path) is a directory", file: path)
            }
        }
    }

    /// Calls `body` with the next line and returns `true`, or returns `false` at the end.
    public func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        try reader.nextLine(body)
    }
}

/// Lines already in memory (keys typed at a terminal prompt, tests).
public struct ArrayLineSource: LineSource {
    private var lines: IndexingIterator<[String]>

    /// Lines to hand out in order.
    public init(_ lines: [String]) {
        self.lines = lines.makeIterator()
    }

    /// Calls `body` with the next line and returns `true`, or returns `false` at the end.
    public mutating func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        guard var line = lines.next() else { return false }
        try line.withUTF8 { try body($0) }
        return true
    }
}
