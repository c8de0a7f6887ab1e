import KeyStore

/// How `--list` writes what the store streams: the providers' summaries first, then each
/// provider opened in turn with its keys. One renderer for people, one for `--json`; the walk
/// over providers and keys is `ListCommand`'s.
protocol ListRenderer: AnyObject {
    /// Every provider listed, before any is opened (none: there is nothing to list).
    func begin(_ summaries: [ProviderSummary])
    /// Closes the provider before, if any, and opens `provider`.
    func open(_ provider: ProviderSummary)
    /// One key of the provider that is open.
    func key(_ key: StoredKey)
    /// Closes what is open.
    func end()
}
