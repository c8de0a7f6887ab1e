import Testing

@testable import KeyAdmin
@testable import KeyStore

/// Errors name the database they happened on, except those that are not about it: a failure of
/// this machine's HTTP client (libcurl, for --check) gets no "[database …]" suffix.
@Suite struct ErrorSuffixTests {
    @Test func onlyDatabaseErrorsNameTheDatabase() throws {
        #expect(!KeyStoreError.transport("libcurl could not start a transfer group").concernsTheDatabase)
        #expect(KeyStoreError.busy("locking provider openai").concernsTheDatabase)
        #expect(KeyStoreError.keyNotFound(try ProviderName(validating: "openai"), number: 3).concernsTheDatabase)
        #expect(KeyStoreError.transport("x").category == .failure)
    }
}
