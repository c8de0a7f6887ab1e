import Postgres

/// What `--add-bulk` did.
public struct BulkReport: Sendable {
    /// A line that held a key already stored, or one given twice: skipped, not an error.
    public struct SkippedLine: Sendable, Equatable {
        /// Why the line was skipped.
        public enum Reason: Sendable, Equatable {
            /// The provider already had this key before the load.
            case alreadyStored(asNumber: Int)
            /// An earlier line of the same input has the same key.
            case repeatedInInput
        }
        /// The line's number in the input, from 1.
        public let lineNumber: Int
        /// The key on the line (shown masked).
        public let key: APIKey
        /// Why it was skipped.
        public let reason: Reason
    }

    /// How many keys were stored.
    public internal(set) var addedCount = 0
    /// Added keys get consecutive numbers; `nil` when nothing was added.
    public internal(set) var addedNumbers: ClosedRange<Int>?
    /// How many lines were skipped (more than `skipped` holds when there were many).
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
    /// Store keys of odd shapes too (`--force`); see `APIKey.problem(with:force:)`.
    let force: Bool
    var chunkSize = 10_000
    static let skippedLinesKept = 1_000

    /// Label, expiry, tier and weight for every key loaded (`--label`, `--expires`, `--tier`,
    /// `--weight`).
    let options: NewKeyOptions

    /// A loader into `store`; `force` stores keys of unusual shapes too, and `options` applies to
    /// every key loaded.
    public init(store: KeyStore, force: Bool = false, options: NewKeyOptions = NewKeyOptions()) {
        self.store = store
        self.force = force
        self.options = options
    }

    /// Stores every key of `source` in provider `name`, in one transaction: all of them or, when
    /// any line is invalid, none (the error names the lines, never the keys).
    public func load(_ source: inout some LineSource, into name: ProviderName) throws(KeyStoreError) -> BulkReport {
        try store.translatingErrors(provider: name) {
            try store.connection.withTransaction { transaction in
                let provider = try store.lockProvider(name, in: transaction)
                let highest = try store.highestNumberGiven(provider: provider, in: transaction)
                var load = Load(
                    transaction: transaction, provider: provider, numberBeforeLoad: highest, options: options)
                var chunk = Chunk()
                var invalid = InvalidLines()
                var lineNumber = 0
                while try source.nextLine({ line in
                    lineNumber += 1
                    let key = APIKey.keyBytes(ofLine: line[...], atStartOfInput: lineNumber == 1)
                    if key.isEmpty || key.first == UInt8(ascii: "#") { return }
                    if let problem = APIKey.problem(with: key, force: force) {
                        invalid.record(lineNumber: lineNumber, problem: problem)
                    } else if invalid.count == 0 {
                        let text = String(decoding: key, as: UTF8.self)
                        if !chunk.append(text, lineNumber: lineNumber) {
                            load.skip(lineNumber: lineNumber, key: text, reason: .repeatedInInput)
                        }
                    }
                }) {
                    if chunk.count >= chunkSize, invalid.count == 0 {
                        try load.insert(chunk)
                        chunk = Chunk()
                    }
                }
                if let failure = invalid.error { throw failure }
                if chunk.count > 0 { try load.insert(chunk) }
                if load.report.addedCount == 0, load.report.skippedCount == 0 {
                    throw KeyStoreError.invalidInput(
                        "no keys in the input; nothing was changed",
                        hint: "give one key per line; blank lines and lines starting with # are skipped")
                }
                if load.highestNumber > highest {
                    try transaction.query(
                        "UPDATE public.providers SET last_key_number = \(load.highestNumber) WHERE id = \(provider)",
                        step: "recording the highest key number of \(name)")
                }
                // Repeats within a chunk are found as lines are read, stored keys when the
                // chunk is sent: report them in input order.
                load.report.skipped.sort { $0.lineNumber < $1.lineNumber }
                return load.report
            }
        }
    }
}

/// One load in progress: the provider (locked), the numbers given so far, what was skipped.
private struct Load {
    let transaction: Transaction
    let provider: Int
    /// The provider's highest number given before the load; every number above it is this load's.
    let numberBeforeLoad: Int
    let options: NewKeyOptions
    var highestNumber: Int
    var report = BulkReport()

    init(transaction: Transaction, provider: Int, numberBeforeLoad: Int, options: NewKeyOptions) {
        self.transaction = transaction
        self.provider = provider
        self.numberBeforeLoad = numberBeforeLoad
        self.options = options
        highestNumber = numberBeforeLoad
    }

    mutating func skip(lineNumber: Int, key: String, reason: BulkReport.SkippedLine.Reason) {
        report.skippedCount += 1
        if report.skipped.count < BulkLoader.skippedLinesKept {
            report.skipped.append(
                BulkReport.SkippedLine(lineNumber: lineNumber, key: APIKey(checked: key), reason: reason))
        }
    }

    mutating func recordAdded(_ count: Int) {
        guard count > 0 else { return }
        report.addedNumbers = (report.addedNumbers?.lowerBound ?? highestNumber + 1)...(highestNumber + count)
        report.addedCount += count
        highestNumber += count
    }

    /// Keys are usually new: the chunk is first copied in as it is (COPY, the fastest way in),
    /// under a savepoint. Only if the hash index refuses one (a key stored already, or earlier
    /// in the input) is the chunk rolled back and sent again through the statement that sorts
    /// out each key.
    mutating func insert(_ chunk: Chunk) throws {
        let step = "adding \(chunk.count) keys"
        try transaction.query("SAVEPOINT keyadmin_bulk_chunk", step: step)
        do {
            let provider = String(self.provider)
            let firstNumber = highestNumber + 1
            let label = options.label?.rawValue
            let expiry = options.expiry?.timestamp
            let tier = String((options.tier ?? .primary).rawValue)
            let weight = String((options.weight ?? .standard).rawValue)
            let account = options.account?.rawValue
            let rows = chunk.keys.enumerated().lazy.map { (offset, key) -> [String?] in
                [provider, String(firstNumber + offset), key, label, expiry, tier, weight, account]
            }
            let copied = try transaction.copyIn(
                """
                COPY public.provider_api_keys (provider_id, key_number, api_key, label, expires_at, tier, weight, account)
                FROM STDIN
                """,
                rows: rows, step: step)
            try transaction.query("RELEASE SAVEPOINT keyadmin_bulk_chunk", step: step)
            recordAdded(copied)
        } catch let error as PGError
            where error.sqlState == .uniqueViolation && error.constraintName == ConstraintName.keyHash
        {
            try transaction.query("ROLLBACK TO SAVEPOINT keyadmin_bulk_chunk", step: step)
            try insertSortingOutStoredKeys(chunk)
        }
    }

    /// One statement for the chunk: keys stored already (before the load, or by an earlier
    /// chunk of it) are reported; the rest get the next numbers, in input order.
    private mutating func insertSortingOutStoredKeys(_ chunk: Chunk) throws {
        let result = try transaction.query(
            """
            WITH input AS (
                SELECT t.api_key, t.line, \(KeySQL.keyHash(of: .column("t.api_key"))) AS hash
                FROM unnest(\(chunk.keys)::text[], \(chunk.lineNumbers)::integer[]) AS t(api_key, line)
            ),
            classified AS (
                -- The lookup must be one probe of the hash index per key, whatever the
                -- statistics say: "+ 0" stops the planner from scanning the provider's keys by
                -- the (provider_id, key_number) index instead (a plan that once took minutes),
                -- and LIMIT 1 from turning the probes into a hash join over all its keys.
                SELECT i.api_key, i.line, k.key_number AS stored_as
                FROM input AS i
                LEFT JOIN LATERAL (
                    SELECT k.key_number
                    FROM public.provider_api_keys AS k
                    WHERE \(KeySQL.keyHash(of: .column("k.api_key"))) = i.hash
                      AND k.provider_id + 0 = \(provider)
                    LIMIT 1
                ) AS k ON true
            ),
            inserted AS (
                INSERT INTO public.provider_api_keys
                    (provider_id, key_number, api_key, label, expires_at, tier, weight, account)
                SELECT \(provider), \(highestNumber) + row_number() OVER (ORDER BY c.line), c.api_key,
                       \(options.label?.rawValue), \(options.expiry?.timestamp)::timestamptz,
                       \((options.tier ?? .primary).rawValue)::smallint, \((options.weight ?? .standard).rawValue),
                       \(options.account?.rawValue)::text
                FROM classified AS c
                WHERE c.stored_as IS NULL
                RETURNING 1
            )
            SELECT NULL::integer AS line, (SELECT count(*) FROM inserted)::integer AS key_number
            UNION ALL
            SELECT c.line, c.stored_as FROM classified AS c WHERE c.stored_as IS NOT NULL
            """, step: "adding \(chunk.count) keys")
        var added = 0
        var stored: [(line: Int, number: Int)] = []
        for row in result.rows {
            if let line: Int = try row.decodeIfPresent("line") {
                stored.append((line, try row.decode("key_number")))
            } else {
                added = try row.decode("key_number")
            }
        }
        for (line, number) in stored.sorted(by: { $0.line < $1.line }) {
            // Numbers above the provider's highest before the load were given by this load.
            let reason: BulkReport.SkippedLine.Reason =
                number > numberBeforeLoad ? .repeatedInInput : .alreadyStored(asNumber: number)
            skip(lineNumber: line, key: chunk.key(atLine: line), reason: reason)
        }
        recordAdded(added)
    }
}

/// The keys waiting to be sent, with the input line each came from; a key appears once.
private struct Chunk {
    private(set) var keys: [String] = []
    private(set) var lineNumbers: [Int] = []
    private var seen: Set<String> = []
    var count: Int { keys.count }

    /// Adds the key, or returns `false` if the chunk has it already (a repeat in the input).
    mutating func append(_ key: String, lineNumber: Int) -> Bool {
        guard seen.insert(key).inserted else { return false }
        keys.append(key)
        lineNumbers.append(lineNumber)
        return true
    }

    /// Line numbers only grow, so the chunk's lines are sorted.
    func key(atLine line: Int) -> String {
        var low = 0
        var high = lineNumbers.count - 1
        while low < high {
            let middle = (low + high) / 2
            if lineNumbers[middle] < line { low = middle + 1 } else { high = middle }
        }
        return keys[low]
    }
}

private struct InvalidLines {
    private(set) var count = 0
    private var problems: [BulkLineProblem] = []
    private var allUnusual = true

    mutating func record(lineNumber: Int, problem: KeyProblem) {
        count += 1
        guard problems.count < 10 else { return }
        problems.append(BulkLineProblem(lineNumber: lineNumber, problem: problem.description))
        if case .invalid = problem { allUnusual = false }
    }

    var error: KeyStoreError? {
        count == 0 ? nil : .invalidBulkInput(problems: problems, lineCount: count, unusualShape: allUnusual)
    }
}
