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

    /// Checksums a migration was also recorded with, besides its file's: text that shipped under
    /// its version once and was then put back. 037 shipped on 2026-12-03 and was then edited and
    /// shipped again (its weighted pick's round 5, comments); the file is as it first shipped, 039
    /// brings the edit, and a database that applied the edited text is as migrated as one that
    /// applied the first.
    static let formerChecksums: [String: Set<String>] = [
        "037": ["31ea86b6402ef983040ae2d46999d111b76dc6deca7895bf0255d33d2e945de9"]
    ]

    /// Whether `checksum`, recorded in keyadmin.schema_migrations, is this migration's (its text
    /// now, hashed as `checksum`) or one it also shipped with.
    func accepts(recorded: String, checksum: String) -> Bool {
        recorded == checksum || Self.formerChecksums[version]?.contains(recorded) == true
    }

    /// Every migration shipped in `migrations/`, in version order.
    public static let bundled: [Migration] =
        embeddedMigrations
        .compactMap { Migration(fileName: $0.fileName, sql: $0.sql) }
        .sorted { (Int($0.version) ?? 0, $0.fileName) < (Int($1.version) ?? 0, $1.fileName) }
}
