import KeyStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The operator's name when --actor is not given: KEYADMIN_ACTOR, else user@host, so that two
/// people sharing the postgres login are still told apart in what they leave behind.
enum Actor {
    static func fromEnvironment() -> OperatorText {
        if let value = variable("KEYADMIN_ACTOR"), let actor = try? OperatorText.actor(value) { return actor }
        let user =
            variable("USER") ?? variable("LOGNAME") ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) }
            ?? "unknown"
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count - 1) == 0 ? String(cString: buffer) : "unknown-host"
        return OperatorText.actorOrUnknown("\(user)@\(host)")
    }

    private static func variable(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
