import Testing

@testable import KeyStore

/// Endpoint URLs and API styles, checked before anything is stored or asked.
@Suite struct ProviderEndpointTests {
    @Test func aBaseURLIsNormalisedAndItsProbeIsTheModelList() throws {
        let url = try EndpointURL(validating: "  HTTPS://API.Example.com:8443/V1/ ")
        #expect(url.rawValue == "https://api.example.com:8443/V1")
        #expect(url.host == "api.example.com")
        #expect(ProviderEndpoint(url: url, style: .openai).probeURL == "https://api.example.com:8443/V1/models")
        let loopback = try EndpointURL(validating: "http://[::1]:8080")
        #expect(loopback.host == "[::1]")
        for host in ["127.0.0.1", "127.9.8.7", "localhost"] {
            #expect(throws: Never.self) { try EndpointURL(validating: "http://\(host):1/v1") }
        }
    }

    @Test(arguments: [
        "http://api.example.com/v1", "http://128.0.0.1/v1", "http://127.0.0.1.example.com/v1",
        "https://user:pass@api.example.com", "https://api.example.com/v1?x=1", "https://api.example.com/#top",
        "https://api.example.com/v1/sk-proj-abcdefghij1234567890", "https://", "https://api.example.com:0",
        "https://api.example.com:65536", "https://api example.com", "https://api.example.com/ä", "ftp://a.example",
        "api.example.com", "https://a/" + String(repeating: "x", count: 2000),
        // A key-shaped host, and a name that merely starts with localhost over plain http.
        "https://sk-proj-abcdefghij1234567890.example.com/v1", "https://api.sk-proj-abcdefghij1234567890:8443/v1",
        "http://localhost.attacker.example/v1",
    ])
    func refusedURLsAreNeverQuotedBack(_ text: String) {
        #expect {
            try EndpointURL(validating: text)
        } throws: { error in
            guard let error = error as? KeyStoreError else { return false }
            return !error.message.contains(text) && !error.message.contains("abcdefghij")
        }
    }

    @Test func eachStyleCarriesTheKeyInItsHeaderOnly() throws {
        let key = try APIKey(validating: "sk-style-test-0000000001")
        #expect(APIStyle.openai.headers(carrying: key) == ["Authorization: Bearer sk-style-test-0000000001"])
        #expect(
            APIStyle.anthropic.headers(carrying: key)
                == ["x-api-key: sk-style-test-0000000001", "anthropic-version: 2023-06-01"])
        #expect(APIStyle.google.headers(carrying: key) == ["x-goog-api-key: sk-style-test-0000000001"])
        #expect(try APIStyle(validating: " Anthropic ") == .anthropic)
        #expect(throws: KeyStoreError.self) { try APIStyle(validating: "cohere") }
    }

    @Test func wellKnownNamesHaveBuiltInEndpoints() throws {
        let names = ["openai", "anthropic", "google", "gemini", "groq", "mistral", "deepseek", "openrouter", "xai"]
        for name in names + ["together", "fireworks"] {
            let endpoint = try #require(ProviderEndpoint.builtIn(for: try ProviderName(validating: name)), "\(name)")
            #expect(endpoint.url.rawValue.hasPrefix("https://"))
            // Each is a URL the validator accepts as it is.
            #expect(try EndpointURL(validating: endpoint.url.rawValue) == endpoint.url)
        }
        let openRouter = try #require(ProviderEndpoint.builtIn(for: try ProviderName(validating: "openrouter")))
        // OpenRouter's model list answers without a key; its key endpoint does not.
        #expect(openRouter.probeURL == "https://openrouter.ai/api/v1/key")
        #expect(ProviderEndpoint.builtIn(for: try ProviderName(validating: "anthropic"))?.style == .anthropic)
        #expect(ProviderEndpoint.builtIn(for: try ProviderName(validating: "gemini"))?.style == .google)
        #expect(ProviderEndpoint.builtIn(for: try ProviderName(validating: "inhouse")) == nil)
    }

    @Test func httpDatesAreRead() {
        #expect(UTCTime(httpDate: "Sun, 06 Nov 1994 08:49:37 GMT")?.description == "1994-11-06T08:49:37Z")
        #expect(UTCTime(httpDate: "Tue, 01 Dec 2026 14:00:00 GMT")?.secondsSinceEpoch == 1_796_133_600)
        for text in [
            "Sunday, 06-Nov-94 08:49:37 GMT", "06 Nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 +0100", "", "120",
        ] {
            #expect(UTCTime(httpDate: text) == nil, "\(text)")
        }
    }
}
