import Foundation
import Postgres
import TestSupport
import Testing

@testable import KeyStore

@Suite struct KeyStoreTests {
    let openai: ProviderName

    init() throws { openai = try ProviderName(validating: "openai") }

    @Test func numbersAreHighestPlusOneAndNeverReused() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(openai)
            #expect(try store.addKey(APIKey(validating: "sk-number-one-000001"), to: openai) == 1)
            #expect(try store.addKey(APIKey(validating: "sk-number-two-000002"), to: openai) == 2)
            #expect(try store.addKey(APIKey(validating: "sk-number-three-0003"), to: openai) == 3)
            try store.deleteKey(number: 3, of: openai)
            try store.deleteKey(number: 1, of: openai)
            // Nothing is renumbered, and #3 (deleted, once the highest) is not given again.
            #expect(try store.addKey(APIKey(validating: "sk-number-four-00004"), to: openai) == 4)
            var input = ArrayLineSource(["sk-number-five-00005"])
            try store.deleteKey(number: 4, of: openai)
            #expect(try BulkLoader(store: store).load(&input, into: openai).addedNumbers == 5...5)
            try store.deleteKey(number: 5, of: openai)
            #expect(try store.addKey(APIKey(validating: "sk-number-six-000006"), to: openai) == 6)
            #expect(
                try database.values(
                    "SELECT string_agg(key_number::text, ',' ORDER BY key_number) AS value FROM provider_api_keys") == [
                        "2,6"
                    ])
        }
    }

    @Test func concurrentAddsFromManyConnectionsGetDistinctNumbers() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try database.store().addProvider(openai)
            let failures = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                do {
                    let store = try database.store()
                    for index in 0..<10 {
                        _ = try store.addKey(APIKey(validating: "sk-worker-\(worker)-key-\(index)-xxxx"), to: openai)
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 } == [])
            #expect(
                try database.values(
                    """
                    SELECT count(*) || ' ' || count(DISTINCT key_number) || ' ' || max(key_number) AS value FROM provider_api_keys
                    """) == ["80 80 80"])
        }
    }

    @Test func duplicateKeysAndProvidersAreClearErrors() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(openai)
            #expect(throws: KeyStoreError.providerExists(openai)) {
                try store.addProvider(ProviderName(validating: "OPENAI"))
            }
            _ = try store.addKey(APIKey(validating: "sk-only-once-000001"), to: openai)
            #expect(throws: KeyStoreError.keyAlreadyStored(openai, asNumber: 1)) {
                try store.addKey(APIKey(validating: "sk-only-once-000001"), to: openai)
            }
            _ = try store.addKey(APIKey(validating: "sk-another-one-0002"), to: openai)
            #expect(throws: KeyStoreError.keyAlreadyStored(openai, asNumber: 1)) {
                try store.updateKey(number: 2, of: openai, to: APIKey(validating: "sk-only-once-000001"))
            }
            #expect(
                try store.updateKey(number: 1, of: openai, to: APIKey(validating: "sk-only-once-000001")) == .unchanged)
        }
    }

    @Test func missingProvidersAndNumbersAreNotFound() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            let nobody = try ProviderName(validating: "nobody")
            try store.addProvider(openai)
            #expect(throws: KeyStoreError.providerNotFound(nobody)) {
                try store.addKey(APIKey(validating: "sk-x-0000000001"), to: nobody)
            }
            #expect(throws: KeyStoreError.keyNotFound(openai, number: 4)) { try store.deleteKey(number: 4, of: openai) }
            #expect(throws: KeyStoreError.keyNotFound(openai, number: 4)) {
                try store.updateKey(number: 4, of: openai, to: APIKey(validating: "sk-x-0000000001"))
            }
            #expect(throws: KeyStoreError.keyNotFound(openai, number: 4)) { try store.key(number: 4, of: openai) }
            #expect(throws: KeyStoreError.providerNotFound(nobody)) { try store.key(number: 1, of: nobody) }
            #expect(throws: KeyStoreError.providerNotFound(nobody)) { try store.deleteProvider(nobody) }
        }
    }

    @Test func deletingAProviderTakesItsKeysAndCountsThem() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(openai)
            for index in 1...3 { _ = try store.addKey(APIKey(validating: "sk-doomed-key-\(index)-000"), to: openai) }
            #expect(try store.deleteProvider(openai) == 3)
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 0)
        }
    }
}

/// The listing's summary and its keys come from one snapshot: a key another operator adds
/// between the two reads is in neither, so the counts and the rows agree.
@Suite struct ListingSnapshotTests {
    @Test func aKeyAddedBetweenTheSummaryAndTheRowsIsInNeither() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let openai = try ProviderName(validating: "openai")
            let store = try database.store()
            try store.addProvider(openai)
            _ = try store.addKey(APIKey(validating: "sk-before-the-listing-01"), to: openai)
            let otherOperator = try database.store()
            var summaryCount = 0
            var listed: [Int] = []
            try store.list(
                provider: nil,
                summaries: { summaries in
                    summaryCount = summaries.first?.keyCount ?? -1
                    // Committed by another session while the listing is between its two reads.
                    _ = try otherOperator.addKey(APIKey(validating: "sk-during-the-listing-02"), to: openai)
                },
                key: { listed.append($0.number) })
            #expect(summaryCount == 1)
            #expect(listed == [1])
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 2)
        }
    }
}

@Suite struct BulkLoaderTests {
    let openai: ProviderName

    init() throws { openai = try ProviderName(validating: "openai") }

    @Test func skipsBlankLinesCommentsAndCRAndReportsDuplicatesByLine() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(openai)
            _ = try store.addKey(APIKey(validating: "sk-already-stored-001"), to: openai)
            var input = ArrayLineSource([
                "# keys from the dashboard", "sk-bulk-key-one-00001\r", "", "  sk-bulk-key-two-00002  ",
                "sk-already-stored-001", "sk-bulk-key-one-00001", "   ", "sk-bulk-key-three-003",
            ])
            let report = try BulkLoader(store: store).load(&input, into: openai)
            #expect(report.addedCount == 3)
            #expect(report.addedNumbers == 2...4)
            #expect(report.skipped.map(\.lineNumber) == [5, 6])
            #expect(report.skipped.map(\.reason) == [.alreadyStored(asNumber: 1), .repeatedInInput])
            #expect(
                try database.values(
                    "SELECT key_number || '=' || api_key AS value FROM provider_api_keys ORDER BY key_number") == [
                        "1=sk-already-stored-001", "2=sk-bulk-key-one-00001", "3=sk-bulk-key-two-00002",
                        "4=sk-bulk-key-three-003",
                    ])
        }
    }

    @Test func aByteOrderMarkAtTheStartIsNotPartOfTheFirstKey() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(openai)
            var input = ArrayLineSource(["\u{FEFF}sk-after-a-bom-000001", "sk-second-line-000002"])
            #expect(try BulkLoader(store: store).load(&input, into: openai).addedCount == 2)
            #expect(
                try database.values("SELECT api_key AS value FROM provider_api_keys ORDER BY key_number").first
                    == "sk-after-a-bom-000001")
            var later = ArrayLineSource(["sk-third-line-0000003", "\u{FEFF}sk-bom-in-the-middle-4"])
            #expect(throws: KeyStoreError.self) { try BulkLoader(store: store).load(&later, into: openai) }
        }
    }

    @Test func storesNothingWhenOneLineIsInvalid() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(openai)
            var lines = (1...25_000).map { "sk-many-keys-\($0)-abcdef" }
            lines[24_000] = "sk-has a space"
            lines[24_500] = "sk-\u{7}bell"
            var input = ArrayLineSource(lines)
            #expect {
                try BulkLoader(store: store).load(&input, into: openai)
            } throws: { error in
                guard case .invalidBulkInput(let problems, let count, _) = error as! KeyStoreError else {
                    return false
                }
                return problems.map(\.lineNumber) == [24_001, 24_501] && count == 2
                    && !(error as! KeyStoreError).message.contains("sk-")
            }
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 0)
        }
    }

    @Test func repeatsAcrossChunksAreReportedAsRepeats() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let store = try database.store()
            try store.addProvider(openai)
            var loader = BulkLoader(store: store)
            loader.chunkSize = 2
            var input = ArrayLineSource([
                "sk-chunked-aaaa-0001", "sk-chunked-bbbb-0002", "sk-chunked-aaaa-0001", "sk-chunked-cccc-0003",
            ])
            let report = try loader.load(&input, into: openai)
            #expect(report.addedNumbers == 1...3)
            #expect(
                report.skipped == [
                    BulkReport.SkippedLine(
                        lineNumber: 3, key: try APIKey(validating: "sk-chunked-aaaa-0001"), reason: .repeatedInInput)
                ])
        }
    }
}

@Suite struct NumberLimitTests {
    @Test func theLastNumberIsAClearErrorNotAWrapAround() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let openai = try ProviderName(validating: "openai")
            let store = try database.store()
            try store.addProvider(openai)
            try database.connect().query(
                """
                INSERT INTO provider_api_keys (provider_id, key_number, api_key)
                SELECT id, 2147483647, 'sk-the-very-last-number' FROM providers
                """, step: "seed")
            #expect(throws: KeyStoreError.numbersExhausted(openai)) {
                try store.addKey(APIKey(validating: "sk-one-too-many-00001"), to: openai)
            }
            var input = ArrayLineSource(["sk-one-too-many-00001"])
            #expect(throws: KeyStoreError.numbersExhausted(openai)) {
                try BulkLoader(store: store).load(&input, into: openai)
            }
        }
    }
}
