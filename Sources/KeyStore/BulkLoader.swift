import Postgres

/// What `--add-bulk` did.
public struct BulkReport: Sendable {
    public struct SkippedLine: Sendable, Equatable {
        public enum Reason: Sendable, Equatable {
            /// The provider already had this key before the load.
            case alreadyStored(asNumber: Int)
            /// An earlier line of the same input has the same key.
            case repeatedInInput
        }
        public let lineNumber: Int
        public let key: APIKey
        public let reason: Reason
    }

    public internal(set) var addedCount = 0
    /// Added keys get consecutive numbers; `nil` when nothing was added.
    public internal(set) var addedNumbers: ClosedRange<Int>?
    public internal(set) var skippedCount = 0
    /// The first `BulkLoader.skippedLinesKept` skipped lines, in input order.
    public internal(set) var skipped: [SkippedLine] = []
}

/// Loads many keys into one provider in one transaction, a chunk of keys per statement.
///
/// Input streams through: memory holds one chunk, however long the input. If any line is
/// invalid, the rest is still read (to name every bad line) but nothing more is sent, and the
/// transaction rolls back: nothing is stored.
public struct BulkLoader {
    let store: KeyStore
    var chunkSize = 10_000
    static let skippedLinesKept = 1_000

    public init(store: KeyStore) {
        self.store = store
    }

    public func load(_ source: inout some LineSource, into name: ProviderName) throws(KeyStoreError) -> BulkReport {
        try store.translatingErrors(provider: name) {
            try store.connection.withTransaction { transaction in
                let provider = try store.lockProvider(name, in: transaction)
                var report = BulkReport()
                var highestNumber: Int = try transaction.query(
                    "SELECT coalesce(max(key_number), 0) AS highest FROM public.provider_api_keys WHERE provider_id = \(provider)",
                    step: "reading the highest key number of \(name)").singleRow(step: "reading the highest key number").decode("highest")
                var chunk = Chunk()
                var invalid = InvalidLines()
                var lineNumber = 0
                while try source.nextLine({ line in
                    lineNumber += 1
                    let key = line.trimmedOfASCIIWhitespace()
                    if key.isEmpty || key.first == UInt8(ascii: "#") { return }
                    if let problem = APIKey.problem(with: key) {
                        invalid.record(lineNumber: lineNumber, problem: problem)
                    } else if invalid.count == 0 {
                        chunk.append(String(decoding: key, as: UTF8.self), lineNumber: lineNumber)
                    }
                }) {
                    if chunk.count >= chunkSize, invalid.count == 0 {
                        try insert(&chunk, provider: provider, highestNumber: &highestNumber, report: &report, in: transaction)
                    }
                }
                if let failure = invalid.error { throw failure }
                if chunk.count > 0 {
                    try insert(&chunk, provider: provider, highestNumber: &highestNumber, report: &report, in: transaction)
                }
                return report
            }
        }
    }

    /// One statement for the whole chunk: repeated and already-stored keys are found by the
    /// hash index and reported; the rest get the next numbers, in input order.
    private func insert(
        _ chunk: inout Chunk, provider: Int, highestNumber: inout Int, report: inout BulkReport, in transaction: Transaction
    ) throws {
        let result = try transaction.query("""
            WITH input AS (
                SELECT t.api_key, t.line FROM unnest(\(chunk.keys)::text[], \(chunk.lineNumbers)::integer[]) AS t(api_key, line)
            ),
            ranked AS (
                SELECT api_key, line, row_number() OVER (PARTITION BY api_key ORDER BY line) AS occurrence FROM input
            ),
            stored AS (
                SELECT r.line, k.key_number, k.xmin = pg_current_xact_id()::xid AS added_now
                FROM ranked AS r
                JOIN public.provider_api_keys AS k
                  ON k.provider_id = \(provider)
                 AND sha256(decode(replace(k.api_key, '\\', '\\\\'), 'escape')) = sha256(decode(replace(r.api_key, '\\', '\\\\'), 'escape'))
            ),
            fresh AS (
                SELECT r.api_key, r.line FROM ranked AS r
                WHERE r.occurrence = 1 AND NOT EXISTS (SELECT 1 FROM stored AS s WHERE s.line = r.line)
            ),
            inserted AS (
                INSERT INTO public.provider_api_keys (provider_id, key_number, api_key)
                SELECT \(provider), \(highestNumber) + row_number() OVER (ORDER BY f.line), f.api_key FROM fresh AS f
                RETURNING 1
            )
            SELECT NULL::integer AS line, 'added' AS outcome, (SELECT count(*) FROM inserted)::integer AS key_number
            UNION ALL
            SELECT s.line, CASE WHEN s.added_now THEN 'repeated' ELSE 'stored' END, s.key_number FROM stored AS s
            UNION ALL
            SELECT r.line, 'repeated', NULL FROM ranked AS r
            WHERE r.occurrence > 1 AND NOT EXISTS (SELECT 1 FROM stored AS s WHERE s.line = r.line)
            """, step: "adding \(chunk.count) keys")
        var skipped: [BulkReport.SkippedLine] = []
        for row in result.rows {
            let outcome: String = try row.decode("outcome")
            guard let line: Int = try row.decodeIfPresent("line") else {
                let added: Int = try row.decode("key_number")
                if added > 0 {
                    report.addedNumbers = (report.addedNumbers?.lowerBound ?? highestNumber + 1)...(highestNumber + added)
                    report.addedCount += added
                    highestNumber += added
                }
                continue
            }
            let key = APIKey(checked: chunk.key(atLine: line))
            let number: Int? = try row.decodeIfPresent("key_number")
            let reason: BulkReport.SkippedLine.Reason =
                outcome == "stored" ? .alreadyStored(asNumber: number ?? 0) : .repeatedInInput
            skipped.append(BulkReport.SkippedLine(lineNumber: line, key: key, reason: reason))
        }
        report.skippedCount += skipped.count
        let room = max(0, Self.skippedLinesKept - report.skipped.count)
        report.skipped += skipped.sorted { $0.lineNumber < $1.lineNumber }.prefix(room)
        chunk = Chunk()
    }
}

/// The keys waiting to be sent, with the input line each came from.
private struct Chunk {
    private(set) var keys: [String] = []
    private(set) var lineNumbers: [Int] = []
    var count: Int { keys.count }

    mutating func append(_ key: String, lineNumber: Int) {
        keys.append(key)
        lineNumbers.append(lineNumber)
    }

    /// Line numbers only grow, so the chunk's lines are sorted.
    func key(atLine line: Int) -> String {
        var low = 0, high = lineNumbers.count - 1
        while low < high {
            let middle = (low + high) / 2
            if lineNumbers[middle] < line { low = middle + 1 } else { high = middle }
        }
        return keys[low]
    }
}

private struct InvalidLines {
    private(set) var count = 0
    private var lineNumbers: [Int] = []
    private var firstProblem = ""

    mutating func record(lineNumber: Int, problem: String) {
        if count == 0 { firstProblem = "line \(lineNumber): the key \(problem)" }
        count += 1
        if lineNumbers.count < 10 { lineNumbers.append(lineNumber) }
    }

    var error: KeyStoreError? {
        count == 0 ? nil : .invalidBulkInput(lineNumbers: lineNumbers, lineCount: count, firstProblem: firstProblem)
    }
}

extension UnsafeBufferPointer<UInt8> {
    func trimmedOfASCIIWhitespace() -> Slice<UnsafeBufferPointer<UInt8>> {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return self[0..<0] }
        let last = lastIndex(where: { !isSpace($0) })!
        return self[first...last]
    }
}
