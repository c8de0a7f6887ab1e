import Postgres

/// `count` picks of get_random_api_key('openai') in one session seeded with setseed, so that
/// statistical tests give the same answer on every run instead of failing one run in a
/// thousand; a biased function still fails them.
public func randomDraws(_ count: Int, from database: TestDatabase, seed: Double) throws -> [String?] {
    let connection = try database.connect()
    try connection.query("SELECT setseed(\(String(seed))::float8)", step: "seeding random()")
    return try connection.query(
        "SELECT get_random_api_key('openai') AS value FROM generate_series(1, \(count))", step: "drawing"
    ).rows.map { try $0.decodeIfPresent("value", as: String.self) }
}
