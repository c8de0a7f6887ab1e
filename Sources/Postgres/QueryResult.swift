import CLibPQ

/// The rows of one statement's answer. Owns its `PGresult` and clears it when released.
public final class QueryResult {
    private let handle: OpaquePointer
    /// What the statement was for, as the caller named it: errors about the result say it.
    public let step: String

    init(taking handle: OpaquePointer, step: String) {
        self.handle = handle
        self.step = step
    }

    deinit { PQclear(handle) }

    /// How many rows the result holds.
    public var rowCount: Int { Int(PQntuples(handle)) }

    var status: ExecStatusType { PQresultStatus(handle) }

    /// Fields of a server error, by the one-letter codes of the protocol (PG_DIAG_*).
    enum ErrorField: Character {
        case sqlState = "C"
        case message = "M"
        case hint = "H"
        case constraintName = "n"
    }

    func errorField(_ field: ErrorField) -> String? {
        let code = Int32(field.rawValue.asciiValue ?? 0)
        guard let value = PQresultErrorField(handle, code) else { return nil }
        let text = String(cString: value).joinedOnOneLine()
        return text.isEmpty ? nil : text
    }

    /// Rows changed by an INSERT, UPDATE or DELETE.
    public var affectedRowCount: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    /// Every row, in order.
    public var rows: [Row] { (0..<rowCount).map { Row(result: self, index: $0) } }

    /// The only row, or an error if there is not exactly one.
    public func singleRow() throws -> Row {
        guard rowCount == 1 else {
            throw PGError(.unexpectedResult, step: step, message: "expected one row, got \(rowCount)")
        }
        return Row(result: self, index: 0)
    }

    @usableFromInline
    func columnIndex(_ name: String) -> Int32? {
        let index = PQfnumber(handle, name)
        return index < 0 ? nil : index
    }

    @usableFromInline
    func isNull(row: Int, column: Int32) -> Bool {
        PQgetisnull(handle, Int32(row), column) == 1
    }

    @usableFromInline
    func text(row: Int, column: Int32) -> String {
        String(cString: PQgetvalue(handle, Int32(row), column))
    }
}

/// One row of a result. Columns are read by name, so a reordered SELECT cannot shift values.
public struct Row {
    @usableFromInline let result: QueryResult
    @usableFromInline let index: Int

    /// The column's value; an error if it is NULL or not of type `T`. The error names the
    /// column and the type, never the value (which may be a key).
    @inlinable
    public func decode<T: ColumnDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let value = try decodeIfPresent(column, as: type) else {
            throw PGError(.unexpectedResult, step: "reading column \(column)", message: "the value is NULL")
        }
        return value
    }

    /// The column's value, `nil` when it is NULL; an error if it is not of type `T`.
    @inlinable
    public func decodeIfPresent<T: ColumnDecodable>(_ column: String, as type: T.Type = T.self) throws -> T? {
        guard let columnIndex = result.columnIndex(column) else {
            throw PGError(
                .unexpectedResult, step: "reading column \(column)", message: "the result has no such column")
        }
        if result.isNull(row: index, column: columnIndex) { return nil }
        guard let value = T(postgresText: result.text(row: index, column: columnIndex)) else {
            throw PGError(
                .unexpectedResult, step: "reading column \(column)",
                message: "the value is not \(T.postgresTypeDescription)")
        }
        return value
    }
}
