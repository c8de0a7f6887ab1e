import Testing

@testable import Postgres

@Suite struct SecretRedactorTests {
    @Test func removesPasswordFromURIUserInfo() {
        let redactor = SecretRedactor(connectionString: "postgresql://admin:s3cr%40t@db.example.com:5432/keys")
        let text = redactor.redact("could not parse postgresql://admin:s3cr%40t@db.example.com and s3cr@t")
        #expect(!text.contains("s3cr"))
        #expect(text.contains("admin:********@db.example.com"))
    }

    @Test func removesQuotedAndUnquotedKeyValuePasswords() {
        let redactor = SecretRedactor(connectionString: "host=db password='it''s \\'hidden\\'' user=x password = plain")
        #expect(SecretRedactor.passwords(in: "host=db password='a\\'b' user=x").contains("a'b"))
        #expect(!redactor.redact("echo: plain").contains("plain"))
    }

    @Test func removesTheEnvironmentPassword() {
        let redactor = SecretRedactor(connectionString: "host=db", environmentPassword: "from-env")
        #expect(redactor.redact("FATAL: from-env rejected") == "FATAL: ******** rejected")
    }

    /// A password that is also a word, the user or the database: its field is masked, and no
    /// other word is touched (issue: `p` made `port` into `********ort`, `x` made `expired`
    /// `e********pired`, `postgres` hid the user and the database).
    @Test func masksThePasswordFieldAndNoOtherWord() {
        let short = SecretRedactor(connectionString: "postgresql://u:p@localhost:56999/keys")
        #expect(short.redact("could not connect to port 56999") == "could not connect to port 56999")
        let letter = SecretRedactor(connectionString: "host=localhost password=x")
        #expect(letter.redact("timeout expired") == "timeout expired")
        #expect(
            letter.redact("bad option in: host=localhost password=x sslmode=on")
                == "bad option in: host=localhost password=******** sslmode=on")
        let same = SecretRedactor(connectionString: "postgresql://postgres:postgres@localhost:56101/postgres")
        #expect(
            same.redact(
                "localhost:56101/postgres: FATAL: password authentication failed for user \"postgres\"",
                keeping: ["postgres"])
                == "localhost:56101/postgres: FATAL: password authentication failed for user \"postgres\"")
        #expect(
            same.redact("invalid URI: postgresql://postgres:postgres@localhost:56101/postgres?x", keeping: ["postgres"])
                == "invalid URI: postgresql://postgres:********@localhost:56101/postgres?x")
        // Standing alone elsewhere, a password that is no identifier is hidden as a whole token.
        let word = SecretRedactor(connectionString: "postgresql://app:hunter2@db/keys")
        #expect(word.redact("saw hunter2, not hunter22") == "saw ********, not hunter22")
    }

    @Test func leavesTextWithoutSecretsAlone() {
        let redactor = SecretRedactor(connectionString: "host=localhost dbname=keys")
        #expect(redactor.redact("connection refused") == "connection refused")
    }
}

@Suite struct ConnectionSettingsTests {
    @Test func requiresTLSForRemoteHostsWithoutSSLMode() throws {
        let remote = ConnectionSettings(connectionString: "postgresql://u@db.abc.supabase.co:5432/postgres")
        #expect(try remote.libpqParameters().contains { $0.keyword == "sslmode" && $0.value == "require" })
    }

    @Test func leavesLoopbackAndExplicitSSLModeAlone() throws {
        let local = ConnectionSettings(connectionString: "postgresql://u@localhost:5432/postgres")
        #expect(try !local.libpqParameters().contains { $0.keyword == "sslmode" })
        let chosen = ConnectionSettings(connectionString: "host=db.example.com sslmode=verify-full")
        #expect(try !chosen.libpqParameters().contains { $0.keyword == "sslmode" && $0.value == "require" })
    }

    @Test func setsADefaultConnectTimeoutUnlessTheStringHasOne() throws {
        let plain = ConnectionSettings(connectionString: "host=localhost")
        #expect(try plain.libpqParameters().contains { $0.keyword == "connect_timeout" && $0.value == "10" })
        let own = ConnectionSettings(connectionString: "host=localhost connect_timeout=3")
        #expect(try !own.libpqParameters().contains { $0.keyword == "connect_timeout" && $0.value == "10" })
    }

    @Test func malformedStringErrorNeverQuotesThePassword() {
        let settings = ConnectionSettings(connectionString: "postgresql://u:hunter2@[bad")
        #expect {
            _ = try settings.libpqParameters()
        } throws: { error in
            let error = error as! PGError
            return error.kind == .invalidConnectionString && !error.description.contains("hunter2")
        }
    }

    @Test func refusesAnHTTPSProjectURLAndSaysWhatToUseInstead() {
        for url in ["https://abc.supabase.co", "http://abc.supabase.co/rest/v1"] {
            #expect {
                _ = try ConnectionSettings(connectionString: url).libpqParameters()
            } throws: { error in
                let error = error as! PGError
                return error.kind == .invalidConnectionString
                    && error.message == "an https:// address is a project's web URL, not a PostgreSQL connection string"
                    && error.hint?.hasPrefix("use the postgresql:// string") == true
            }
        }
    }
}

@Suite struct QueryTests {
    @Test func interpolatedValuesBecomeParameters() {
        let name = "x'; DROP TABLE providers; --"
        let query: Query = "SELECT id FROM providers WHERE provider_name = \(name) AND id > \(3)"
        #expect(query.sql == "SELECT id FROM providers WHERE provider_name = $1 AND id > $2")
        #expect(query.parameters == [name, "3"])
    }

    @Test func arraysAreQuotedLiterals() {
        #expect(["a", "b\"c", "d\\e", "f,g"].postgresText == #"{"a","b\"c","d\\e","f,g"}"#)
    }
}
