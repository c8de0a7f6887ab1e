import CLibPQ

extension Connection {
    /// Sends rows with `COPY ... FROM STDIN` (text format) and returns how many were stored.
    ///
    /// COPY carries data, never SQL: every field is escaped here, and the statement itself is
    /// a literal without parameters. The server inserts the rows in batches, which makes this
    /// the fastest way to load many rows.
    public func copyIn(_ statement: Query, rows: some Sequence<[String?]>, step: String) throws -> Int {
        guard statement.parameters.isEmpty else {
            throw PGError(.unexpectedResult, step: step, message: "COPY takes no parameters")
        }
        try send(statement, step: step)
        guard let ready = try nextResult(step: step) else {
            throw PGError(.unexpectedResult, step: step, message: "the server did not start the COPY")
        }
        if let error = error(in: ready, step: step) {
            _ = try drainResults(step: step)
            throw error
        }
        guard ready.status == PGRES_COPY_IN else {
            throw PGError(.unexpectedResult, step: step, message: "the statement is not COPY ... FROM STDIN")
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        func flush() throws {
            let sent = buffer.withUnsafeBytes { bytes in
                PQputCopyData(handle, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
            }
            guard sent == 1 else { throw lostConnection(step: step) }
            buffer.removeAll(keepingCapacity: true)
        }
        for row in rows {
            for (index, field) in row.enumerated() {
                if index > 0 { buffer.append(0x09) }
                if let field {
                    Self.appendCopyText(field, to: &buffer)
                } else {
                    buffer += [0x5C, 0x4E]  // \N, COPY's NULL
                }
            }
            buffer.append(0x0A)
            if buffer.count >= 1 << 16 { try flush() }
        }
        if !buffer.isEmpty { try flush() }
        guard PQputCopyEnd(handle, nil) == 1 else { throw lostConnection(step: step) }
        var stored = 0
        if let failure = try drainResults(step: step, { stored = $0.affectedRowCount }) { throw failure }
        return stored
    }

    /// COPY's text format: backslash, tab, newline and carriage return are escaped, so a field
    /// can hold anything and never be read as a delimiter.
    static func appendCopyText(_ field: String, to buffer: inout [UInt8]) {
        for byte in field.utf8 {
            switch byte {
            case 0x5C: buffer += [0x5C, 0x5C]
            case 0x09: buffer += [0x5C, 0x74]
            case 0x0A: buffer += [0x5C, 0x6E]
            case 0x0D: buffer += [0x5C, 0x72]
            default: buffer.append(byte)
            }
        }
    }
}
