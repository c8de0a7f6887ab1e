import KeyStore

/// The operator's name when --actor is not given: KEYADMIN_ACTOR, else user@host, so that two
/// people sharing the postgres login are still told apart in what they leave behind.
enum OperatorIdentity {
    static func fromEnvironment() -> OperatorText {
        if let value = environmentVariable("KEYADMIN_ACTOR"), let actor = try? OperatorText.actor(value) {
            return actor
        }
        let (user, host) = userAndHostName()
        return OperatorText.actorOrUnknown("\(user ?? "unknown")@\(host ?? "unknown-host")")
    }
}
