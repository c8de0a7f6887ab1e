/// How a provider's API takes a key (migration 029's `providers.api_style`).
public enum APIStyle: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `Authorization: Bearer KEY`: OpenAI and the many APIs shaped like it.
    case openai
    /// `x-api-key: KEY` and `anthropic-version: 2023-06-01`.
    case anthropic
    /// `x-goog-api-key: KEY`: Google's Gemini API.
    case google

    /// A style from text (`openai`, `anthropic`, `google`). Errors never quote the input.
    public init(validating text: String) throws(KeyStoreError) {
        guard let style = APIStyle(rawValue: text.trimmingASCIIWhitespace().lowercased()) else {
            if KeyShape.looksLikeKey(text) { throw KeyShape.misplacedKeyError(expected: "an API style") }
            throw .invalidInput("an API style is openai, anthropic or google", hint: "openai is the default")
        }
        self = style
    }

    /// The request headers that carry `key`, as "Name: value" lines. The key goes nowhere else.
    public func headers(carrying key: APIKey) -> [String] {
        switch self {
        case .openai: ["Authorization: Bearer \(key.revealed)"]
        case .anthropic: ["x-api-key: \(key.revealed)", "anthropic-version: 2023-06-01"]
        case .google: ["x-goog-api-key: \(key.revealed)"]
        }
    }

    /// The style's name.
    public var description: String { rawValue }
}

/// A provider API's base URL: `https`, or `http` to a loopback host (a stand-in on this
/// machine); no user or password, query or fragment; no key in it.
public struct EndpointURL: Hashable, Sendable, CustomStringConvertible {
    /// The URL without a trailing `/`, scheme and host in lower case.
    public let rawValue: String
    /// The host, as written (`[::1]` with its brackets).
    public let host: String

    /// The longest URL accepted (as migration 029's constraint).
    public static let maximumLength = 2000

    /// An endpoint from what an operator typed. Errors quote nothing of it: it may be a key.
    public init(validating input: String) throws(KeyStoreError) {
        let text = input.trimmingASCIIWhitespace()
        let lowered = text.lowercased()
        let scheme: String
        if lowered.hasPrefix("https://") {
            scheme = "https"
        } else if lowered.hasPrefix("http://") {
            scheme = "http"
        } else {
            if KeyShape.looksLikeKey(text) { throw KeyShape.misplacedKeyError(expected: "a URL") }
            throw Self.invalid("an endpoint is an https URL, such as https://api.openai.com/v1")
        }
        guard text.utf8.count <= Self.maximumLength else {
            throw Self.invalid("that URL is longer than \(Self.maximumLength) characters")
        }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw Self.invalid("a URL has no spaces, control characters or non-ASCII letters (percent-encode them)")
        }
        let rest = text.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let path = rest.dropFirst(authority.count)
        guard !authority.contains("@") else {
            throw Self.invalid("an endpoint has no user or password in it (the key is sent in a header)")
        }
        guard !path.contains("?"), !path.contains("#") else {
            throw Self.invalid("an endpoint is a base URL, without ?query or #fragment (the key is sent in a header)")
        }
        // In the path or the host: a host named like a key would be stored, listed and recorded
        // in the history as it is.
        let parts =
            path.split(separator: "/") + authority.split(whereSeparator: { $0 == "." || $0 == ":" }) + [authority]
        guard parts.allSatisfy({ !KeyShape.looksLikeKey(String($0)) }) else {
            throw Self.invalid(
                "that URL holds something shaped like a key; the key is sent in a header, never in the URL")
        }
        guard let host = Self.host(ofAuthority: authority) else {
            throw Self.invalid("that URL has no valid host (and port, 1-65535)")
        }
        if scheme == "http" && !Self.isLoopback(host) {
            throw Self.invalid("http is for loopback hosts only (127.0.0.1, ::1, localhost); use https")
        }
        var trimmedPath = String(path)
        while trimmedPath.hasSuffix("/") { trimmedPath.removeLast() }
        rawValue = "\(scheme)://\(authority.lowercased())\(trimmedPath)"
        self.host = host.lowercased()
    }

    init(checked text: String) {
        rawValue = text
        let rest = text.drop { $0 != "/" }.dropFirst(2)
        host = Self.host(ofAuthority: rest.prefix { $0 != "/" }) ?? ""
    }

    /// The URL a probe asks: `path` under this one.
    public func appending(_ path: String) -> String { "\(rawValue)/\(path)" }

    /// The URL.
    public var description: String { rawValue }

    /// `host[:port]` → host, when both parts are well formed (`[::1]:8080` → `[::1]`); `nil`
    /// otherwise. `--check` also uses it on a redirect's Location before naming its host.
    public static func host(ofAuthority authority: Substring) -> String? {
        var host = authority
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                port = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number), port.allSatisfy(\.isASCII) else { return nil }
        }
        guard !host.isEmpty,
            host.allSatisfy({ $0.isLetter || $0.isNumber || "-._[]:".contains($0) })
        else { return nil }
        return String(host)
    }

    /// localhost, 127.0.0.0/8 and ::1: the only hosts plain http may reach.
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { UInt8($0).map { _ in true } ?? false }
    }

    private static func invalid(_ message: String) -> KeyStoreError {
        .invalidInput(message, hint: nil)
    }
}

/// Where `keyadmin --check` asks about a provider's keys, and how.
public struct ProviderEndpoint: Hashable, Sendable {
    /// The API's base URL.
    public let url: EndpointURL
    /// How the API takes a key.
    public let style: APIStyle

    /// An endpoint.
    public init(url: EndpointURL, style: APIStyle) {
        self.url = url
        self.style = style
    }

    /// The URL a probe GETs: a request that costs nothing and fails with a bad key. The model
    /// list for every API but OpenRouter's, which answers it without a key; its key endpoint
    /// does not.
    public var probeURL: String {
        url.appending(url.host == "openrouter.ai" ? "key" : "models")
    }

    /// The built-in endpoint of a well-known provider name, used while none is set.
    public static func builtIn(for name: ProviderName) -> ProviderEndpoint? {
        guard let (url, style) = builtIns[name.rawValue] else { return nil }
        return ProviderEndpoint(url: EndpointURL(checked: url), style: style)
    }

    /// The names with a built-in endpoint, for help and documentation.
    public static var wellKnownNames: [String] { builtIns.keys.sorted() }

    // Each provider's documented base URL, under which GET models (key for OpenRouter) lists
    // what the key may use.
    private static let builtIns: [String: (String, APIStyle)] = [
        "openai": ("https://api.openai.com/v1", .openai),
        "anthropic": ("https://api.anthropic.com/v1", .anthropic),
        "google": ("https://generativelanguage.googleapis.com/v1beta", .google),
        "gemini": ("https://generativelanguage.googleapis.com/v1beta", .google),
        "groq": ("https://api.groq.com/openai/v1", .openai),
        "mistral": ("https://api.mistral.ai/v1", .openai),
        "deepseek": ("https://api.deepseek.com", .openai),
        "openrouter": ("https://openrouter.ai/api/v1", .openai),
        "xai": ("https://api.x.ai/v1", .openai),
        "together": ("https://api.together.xyz/v1", .openai),
        "fireworks": ("https://api.fireworks.ai/inference/v1", .openai),
    ]
}
