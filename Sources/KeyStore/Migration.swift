/// One file of `migrations/`, as built into the binary.
public struct Migration: Sendable, Equatable {
    /// The leading digits of the file name ("021"); migrations run in this order.
    public let version: String
    /// The rest of the name, without extension ("simplify_provider_api_keys").
    public let name: String
    /// The file's name, such as `023_key_lifecycle.sql`.
    public let fileName: String
    /// The file's text, run as it is.
    public let sql: String

    init?(fileName: String, sql: String) {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        let digits = stem.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty else { return nil }
        version = String(digits)
        name = String(stem.dropFirst(digits.count).drop(while: { $0 == "_" || $0 == "-" }))
        self.fileName = fileName
        self.sql = sql
    }

    /// Every migration shipped in `migrations/`, in version order.
    public static let bundled: [Migration] =
        embeddedMigrations
        .compactMap { Migration(fileName: $0.fileName, sql: $0.sql) }
        .sorted { (Int($0.version) ?? 0, $0.fileName) < (Int($1.version) ?? 0, $1.fileName) }
}
