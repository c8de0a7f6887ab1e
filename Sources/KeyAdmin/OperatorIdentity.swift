import KeyStore

/// The operator's name when --actor is not given: KEYADMIN_ACTOR, else user@host, so that two
/// people sharing the postgres login are still told apart in what they leave behind.
enum OperatorIdentity {
    /// KEYADMIN_ACTOR when set, else user@host. A KEYADMIN_ACTOR that is no usable name (a key
    /// pasted into it, a second line) is refused, not replaced: the record would name someone
    /// else without anybody noticing.
    static func fromEnvironment() throws(UsageError) -> OperatorText {
        if let value = environmentVariable("KEYADMIN_ACTOR") {
            do { return try OperatorText.actor(value) } catch {
                let problem =
                    KeyShape.looksLikeKey(value.trimmingASCIIWhitespace())
                    ? "it looks like a key, not a name" : error.message
                throw UsageError(
                    "KEYADMIN_ACTOR is not a usable actor name: \(problem) "
                        + "(set it to a name such as alice@laptop, or give --actor NAME)")
            }
        }
        let (user, host) = userAndHostName()
        return OperatorText.actorOrUnknown("\(user ?? "unknown")@\(host ?? "unknown-host")")
    }
}
