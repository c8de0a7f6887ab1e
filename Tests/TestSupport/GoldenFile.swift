import Foundation

/// A committed expected output under Tests/Golden: what people read (help, tables) changes only
/// with a reviewed diff of these files. `UPDATE_GOLDEN=1 scripts/test.sh --filter Golden`
/// writes them from the current output instead.
public enum GoldenFile {
    /// Tests/Golden in the repository.
    public static let directory = repositoryRoot.appendingPathComponent("Tests/Golden")

    /// The committed text of `name` (such as "help/--list.txt"); with UPDATE_GOLDEN=1, `actual`
    /// is written there first, so the comparison passes and `git diff` shows the change.
    public static func expected(_ name: String, actual: String) -> String {
        let url = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try? FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? Data(actual.utf8).write(to: url)
        }
        return (try? String(contentsOf: url, encoding: .utf8)) ?? "(no golden file \(name))"
    }
}
