/// Recognises text that is probably an API key, so that a key typed where a name or number
/// belongs (arguments in the wrong order) is refused without being shown back.
public enum KeyShape {
    /// Prefixes of the keys people keep in pools: OpenAI, Anthropic, Google, Groq, xAI,
    /// Hugging Face, GitHub, Perplexity, Replicate, AWS, NVIDIA, Cerebras, Fireworks, Together.
    public static let knownPrefixes = [
        "sk-", "sk_", "AIza", "gsk_", "xai-", "hf_", "ghp_", "github_pat_", "pplx-", "r8_", "AKIA", "nvapi-",
        "csk-", "fw_", "tgp_",
    ]

    /// True for a known key prefix followed by more characters, or a long unbroken run of
    /// letters and digits (what keys are made of; names are words joined by `-`, `_` or `.`).
    public static func looksLikeKey(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        if bytes.count >= 10, knownPrefixes.contains(where: { text.hasPrefix($0) }) { return true }
        var longestRun = 0
        var run = 0
        var hasDigit = false
        var hasLower = false
        var hasUpper = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                hasDigit = true
                run += 1
            case UInt8(ascii: "a")...UInt8(ascii: "z"):
                hasLower = true
                run += 1
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                hasUpper = true
                run += 1
            default: run = 0
            }
            longestRun = max(longestRun, run)
        }
        guard hasDigit, hasLower || hasUpper else { return false }
        return longestRun >= 20 || (longestRun >= 16 && hasLower && hasUpper)
    }

    /// The error for a key where a name or number belongs: nothing of the value is shown.
    public static func misplacedKeyError(expected: String) -> KeyStoreError {
        .invalidInput("that looks like a key, not \(expected): check the order of the arguments", hint: nil)
    }
}
