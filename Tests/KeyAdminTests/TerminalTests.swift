import Foundation
import TestSupport
import Testing

/// What an operator at a terminal sees: hidden key input, confirmation, colour.
@Suite(.enabled(if: TerminalSession.isAvailable, "util-linux script is not installed"))
struct TerminalTests {
    @Test func aKeyTypedAtThePromptIsNotEchoed() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            let session = try TerminalSession.run(
                ["--database-url", database.connectionString, "--add-key", "openai", "-"],
                answers: [("(input hidden): ", "sk-typed-at-the-prompt-01")])
            #expect(session.status == 0)
            #expect(!session.output.contains("sk-typed-at-the-prompt-01"), "\(session.output)")
            #expect(session.output.contains("added key #1 to openai (sk-ty…t-01)"))
            #expect(
                try database.values("SELECT api_key AS value FROM provider_api_keys") == ["sk-typed-at-the-prompt-01"])
        }
    }

    @Test func bulkAtATerminalReadsAPasteWithBlankLinesUntilTwoEmptyLines() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            let session = try TerminalSession.run(
                ["--database-url", database.connectionString, "--add-bulk", "openai"],
                answers: [("input hidden", "sk-pasted-one-000000001\n\nsk-pasted-two-000000002\n\n")])
            #expect(session.status == 0, "\(session.output)")
            #expect(!session.output.contains("sk-pasted-one-000000001"))
            #expect(session.output.contains("read 2 key lines; storing them in openai"))
            #expect(session.output.contains("added 2 keys to openai (#1-#2)"))
        }
    }

    @Test func bulkAtATerminalEndsOnControlD() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            let session = try TerminalSession.run(
                ["--database-url", database.connectionString, "--add-bulk", "openai"],
                answers: [("input hidden", "sk-pasted-one-000000001\n\nsk-pasted-two-000000002\n\u{04}")])
            #expect(session.status == 0, "\(session.output)")
            #expect(session.output.contains("added 2 keys to openai (#1-#2)"))
        }
    }

    @Test func deletingAKeyShowsItMaskedAndAsks() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            _ = try KeyAdminProcess.run([
                "--database-url", database.connectionString, "--add-key", "openai", "sk-to-be-deleted-00000001",
            ])
            let arguments = ["--database-url", database.connectionString, "--delete-key", "openai", "1"]
            let no = try TerminalSession.run(arguments, answers: [("[y/N] ", "")])
            #expect(no.status == 2)
            #expect(no.output.contains("Delete key #1 of openai (sk-to…0001)"), "\(no.output)")
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 1)
            let yes = try TerminalSession.run(arguments, answers: [("[y/N] ", "y")])
            #expect(yes.status == 0, "\(yes.output)")
            #expect(yes.output.contains("deleted key #1 of openai (sk-to…0001)"))
            #expect(try database.integer("SELECT count(*) AS value FROM provider_api_keys") == 0)
        }
    }

    /// The operator confirmed the key shown; if another operator replaces it while the question
    /// is open, "y" must not delete a key nobody was shown.
    @Test func aKeyReplacedWhileTheQuestionIsOpenIsNotDeleted() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let url = database.connectionString
            _ = try KeyAdminProcess.run(["--database-url", url, "--add-provider", "openai"])
            _ = try KeyAdminProcess.run(["--database-url", url, "--add-key", "openai", "sk-shown-and-confirmed-01"])
            let session = try TerminalSession.run(
                ["--database-url", url, "--delete-key", "openai", "1"], answers: [("[y/N] ", "y")]
            ) { _ in
                let replaced = try KeyAdminProcess.run(
                    ["--database-url", url, "--update-key", "openai", "1", "sk-replaced-meanwhile-02"])
                #expect(replaced.status == 0, "\(replaced.stderr)")
            }
            #expect(session.status != 0, "\(session.output)")
            #expect(session.output.contains("changed since it was shown; nothing was deleted"), "\(session.output)")
            #expect(!session.output.contains("sk-replaced-meanwhile-02"))
            #expect(
                try database.values("SELECT api_key AS value FROM provider_api_keys") == ["sk-replaced-meanwhile-02"])
        }
    }

    @Test func deletingAProviderAsksForItsName() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            _ = try KeyAdminProcess.run(["--database-url", database.connectionString, "--add-provider", "openai"])
            let wrong = try TerminalSession.run(
                ["--database-url", database.connectionString, "--delete-provider", "openai"],
                answers: [("Type the provider's name to confirm: ", "opena")])
            #expect(wrong.status == 2)
            #expect(try database.integer("SELECT count(*) AS value FROM providers") == 1)
            let right = try TerminalSession.run(
                ["--database-url", database.connectionString, "--delete-provider", "openai"],
                answers: [("Type the provider's name to confirm: ", "openai")])
            #expect(right.status == 0)
            #expect(right.output.contains("deleted provider openai and its 0 keys"))
            #expect(try database.integer("SELECT count(*) AS value FROM providers") == 0)
        }
    }

    @Test func colourOnlyOnATerminalAndNeverWithNoColor() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            let arguments = ["--database-url", database.connectionString, "--random-key", "nobody"]
            let coloured = try TerminalSession.run(arguments, answers: [])
            #expect(coloured.output.contains("\u{1B}[31merror:\u{1B}[0m"))
            let plain = try TerminalSession.run(arguments, answers: [], environment: ["NO_COLOR": "1"])
            #expect(plain.status == 3)
            #expect(!plain.output.contains("\u{1B}["))
        }
    }
}
