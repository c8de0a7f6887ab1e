import KeyStore
import TestSupport
import Testing

/// The library product as another Swift package uses it: `import KeyStore`, nothing internal.
@Suite struct ConsumerTests {
    @Test func aConsumerManagesAPoolAndDrawsAndReportsKeys() throws {
        try TestDatabase.with { database in
            let store = try KeyStore.connect(to: database.connectionString)
            let openai = try ProviderName(validating: "openai")
            try store.addProvider(openai)
            let first = try APIKey(validating: "sk-consumer-key-000001")
            let second = try APIKey(validating: "sk-consumer-key-000002")
            #expect(try store.addKey(first, to: openai) == 1)
            #expect(try store.addKey(second, to: openai) == 2)

            #expect(try store.key(number: 2, of: openai) == second)
            #expect([first, second].contains(try store.randomKey(of: openai)))

            #expect(try store.reportResult(of: first, for: openai, httpStatus: 401) == .disabled)
            #expect(try store.reportResult(of: second, for: openai, httpStatus: 200) == .available)
            // Only the key that still works is drawn now.
            for _ in 0..<20 { #expect(try store.randomKey(of: openai) == second) }
        }
    }

    @Test func aKeyNotInThePoolIsReportedAsNil() throws {
        try TestDatabase.with { database in
            let store = try KeyStore.connect(to: database.connectionString)
            let openai = try ProviderName(validating: "openai")
            try store.addProvider(openai)
            let stranger = try APIKey(validating: "sk-not-in-this-pool-01")
            #expect(try store.reportResult(of: stranger, for: openai, httpStatus: 429, retryAfterSeconds: 30) == nil)
        }
    }

    @Test func errorsAreValuesThatNameWhatFailed() throws {
        try TestDatabase.with { database in
            let store = try KeyStore.connect(to: database.connectionString)
            let missing = try ProviderName(validating: "missing")
            #expect(throws: KeyStoreError.providerNotFound(missing)) { try store.randomKey(of: missing) }
            let error = KeyStoreError.providerNotFound(missing)
            #expect(error.message == "no provider named \"missing\"")
            #expect(error.category == .notFound)
        }
    }

    @Test func aKeyPrintsMaskedByAccident() throws {
        let key = try APIKey(validating: "sk-proj-abcdefghijklmnop1234")
        #expect("\(key)" == "sk-pr…1234")
        #expect(key.revealed == "sk-proj-abcdefghijklmnop1234")
    }
}
