/// The closest spelling to a mistyped option, as git and cargo suggest one.
enum Suggestion {
    /// The candidate that `typed` is a prefix of, if only one is; else the one within two edits,
    /// if any.
    static func closest(to typed: String, among candidates: [String]) -> String? {
        let extended = candidates.filter { $0.hasPrefix(typed) }
        if extended.count == 1 { return extended[0] }
        let scored = candidates.map { ($0, editDistance(typed, $0)) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }

    /// Levenshtein distance over Unicode scalars.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
