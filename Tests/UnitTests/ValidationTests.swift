import Testing

@testable import KeyStore

@Suite struct ProviderNameTests {
    @Test func foldsCaseAndTrims() throws {
        #expect(try ProviderName(validating: "  OpenAI ").rawValue == "openai")
        #expect(try ProviderName(validating: "azure-openai.eu_1").rawValue == "azure-openai.eu_1")
    }

    @Test(arguments: ["", "   ", "open ai", "öpenai", "open;ai", "a'b", String(repeating: "a", count: 65), "x\u{0}y"])
    func refusesWhatTheMigrationRefuses(_ input: String) {
        #expect(throws: KeyStoreError.self) { try ProviderName(validating: input) }
    }

    @Test func errorNeverRepeatsAnOverlongName() {
        let long = String(repeating: "b", count: 500) + " "
        #expect {
            try ProviderName(validating: long + "x")
        } throws: { error in
            (error as! KeyStoreError).message.count < 200
        }
    }
}

@Suite struct APIKeyTests {
    @Test func trimsSurroundingWhitespace() throws {
        #expect(try APIKey(validating: " \tsk-proj-abc123\r\n").revealed == "sk-proj-abc123")
    }

    @Test(arguments: [
        "", "  ", "sk-a b", "sk-a\tb", "sk-\u{1}x", "sk-é", "sk-a\nb", String(repeating: "k", count: 2049),
    ])
    func refusesWhatCannotBeAKey(_ input: String) {
        #expect(throws: KeyStoreError.self) { try APIKey(validating: input) }
    }

    @Test func errorsNeverQuoteTheKey() {
        #expect {
            try APIKey(validating: "sk-secret part")
        } throws: { error in
            !(error as! KeyStoreError).message.contains("secret")
        }
    }

    @Test func descriptionIsMasked() throws {
        let key = try APIKey(validating: "sk-proj-0123456789abcdefa1b2")
        #expect(key.masked == "sk-pr…a1b2")
        #expect("\(key)" == "sk-pr…a1b2")
        #expect(!String(reflecting: key).contains("0123456789"))
        #expect(APIKey.mask("short-key-12") == "sho…12")
        #expect(APIKey.mask("abcd") == "a…")
    }
}

@Suite struct DotEnvTests {
    @Test func readsDotenvSyntax() {
        let env = DotEnv(
            parsing: """
                # a comment
                DATABASE_URL=postgresql://u:p@h/db
                export WORKER_1_DATABASE_URL="postgresql://x:y@h:6543/postgres?sslmode=require"
                SINGLE='it''s literal \\n'
                DOUBLE="line\\nbreak \\"quoted\\""
                INLINE=value # trailing comment
                EMPTY=
                not a line
                """)
        #expect(env.values["DATABASE_URL"] == "postgresql://u:p@h/db")
        #expect(env.values["WORKER_1_DATABASE_URL"] == "postgresql://x:y@h:6543/postgres?sslmode=require")
        #expect(env.values["SINGLE"] == "it")
        #expect(env.values["DOUBLE"] == "line\nbreak \"quoted\"")
        #expect(env.values["INLINE"] == "value")
        #expect(env.values["EMPTY"] == "")
        #expect(env.values.count == 6)
    }

    @Test func handlesCRLFFiles() {
        #expect(DotEnv(parsing: "A=1\r\nB=2\r\n").values == ["A": "1", "B": "2"])
    }
}
