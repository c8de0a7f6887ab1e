#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lines of bulk input, handed out one at a time as raw bytes (without the newline), so that a
/// million keys stream through one reused buffer and invalid UTF-8 can be reported, not crashed on.
public protocol LineSource {
    /// Calls `body` with the next line and returns `true`, or returns `false` at the end.
    mutating func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool
}

/// Lines read from a C stream with `getline`.
public final class FileLineSource: LineSource {
    private let file: UnsafeMutablePointer<FILE>
    private let closesFile: Bool
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0

    /// Standard input.
    public init() throws(KeyStoreError) {
        guard let input = fdopen(STDIN_FILENO, "r") else {
            throw .invalidInput("cannot read standard input", hint: "give the keys with --file PATH")
        }
        file = input
        closesFile = false
    }

    /// The file at `path`.
    public init(path: String) throws(KeyStoreError) {
        guard let opened = fopen(path, "r") else {
            let reason = String(cString: strerror(errno))
            throw .invalidInput("cannot open \(path): \(reason)", hint: "check the path given to --file")
        }
        var status = stat()
        if fstat(fileno(opened), &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            fclose(opened)
            throw .invalidInput("\(path) is a directory", hint: "give --file a file with one key per line")
        }
        file = opened
        closesFile = true
    }

    deinit {
        free(buffer)
        if closesFile { fclose(file) }
    }

    public func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        let length = getline(&buffer, &capacity, file)
        guard length >= 0, let buffer else { return false }
        var count = length
        if count > 0, buffer[count - 1] == 0x0A { count -= 1 }
        try buffer.withMemoryRebound(to: UInt8.self, capacity: count) { bytes in
            try body(UnsafeBufferPointer(start: bytes, count: count))
        }
        return true
    }
}

/// Lines already in memory (keys typed at a terminal prompt, tests).
public struct ArrayLineSource: LineSource {
    private var lines: IndexingIterator<[String]>

    public init(_ lines: [String]) {
        self.lines = lines.makeIterator()
    }

    public mutating func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        guard var line = lines.next() else { return false }
        try line.withUTF8 { try body($0) }
        return true
    }
}
