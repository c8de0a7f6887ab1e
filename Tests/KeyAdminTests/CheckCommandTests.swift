import Foundation
import TestSupport
import Testing

/// `--check` and `--set-endpoint` through the built binary, against stand-in providers on
/// loopback (plain HTTP, and TLS with a test CA).
@Suite struct CheckCommandTests {

    /// A provider `name` with `keys` (numbered in order) and its endpoint at `api`.
    func provider(
        _ database: TestDatabase, _ name: String, keys: [String], at url: String, style: String? = nil
    ) throws {
        #expect(try keyadmin(database, ["--add-provider", name]).status == 0)
        let added = try keyadmin(database, ["--add-bulk", name], stdin: keys.joined(separator: "\n"))
        #expect(added.status == 0, "\(added.stderr)")
        let set = try keyadmin(database, ["--set-endpoint", name, url] + (style.map { ["--api", $0] } ?? []))
        #expect(set.status == 0, "\(set.stderr)")
    }

    func state(_ database: TestDatabase, _ key: String) throws -> String? {
        try database.values(
            """
            SELECT CASE WHEN disabled_at IS NOT NULL
                        THEN 'disabled ' || CASE WHEN disabled_automatically THEN 'automatically' ELSE 'by operator' END
                        WHEN cooldown_until > now() THEN 'cooling ' || round(extract(epoch FROM cooldown_until - now()))
                        ELSE 'available' END
                   || ' failures=' || consecutive_failures || ' last=' || coalesce(last_status::text, '-') AS value
            FROM provider_api_keys WHERE api_key = \(key)
            """
        ).first ?? nil
    }

    func expectNoKeyShown(_ run: KeyAdminProcess.Output, _ keys: [String]) {
        for key in keys {
            #expect(!run.stdout.contains(key) && !run.stderr.contains(key), "a key was shown")
        }
    }

    @Test func eachAnswerIsRecordedAsReportApiKeyResultRecordsIt() throws {
        let answers = [
            "sk-check-ok-000000000001": "200", "sk-check-revoked-00000002": "401", "sk-check-unpaid-000000003": "402",
            "sk-check-forbidden-0000004": "403", "sk-check-limited-0000005": "429:30",
            "sk-check-dated-000000006": "429-date:120", "sk-check-broken-00000007": "500",
            "sk-check-down-0000000008": "503", "sk-check-timeout-0000009": "408",
        ]
        let api = try StandInModelsAPI(answers: answers)
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = answers.keys.sorted()
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin"])
            #expect(run.status == 5, "\(run.stderr)")
            #expect(
                run.stdout.contains(
                    "9 keys: 1 ok, 3 disabled (1 × 401, 1 × 402, 1 × 403), 2 cooling down (429), 3 failing (408, 5xx)\n"
                ),
                "\(run.stdout)")
            #expect(run.stderr.contains("error: 8 of 9 keys did not answer 2xx"), "\(run.stderr)")
            expectNoKeyShown(run, keys)
            #expect(try state(database, "sk-check-ok-000000000001") == "available failures=0 last=-")
            for key in ["sk-check-revoked-00000002", "sk-check-unpaid-000000003", "sk-check-forbidden-0000004"] {
                #expect(try state(database, key)?.hasPrefix("disabled automatically failures=1") == true)
            }
            // Retry-After in seconds, and as an HTTP date two minutes after the answer's Date.
            let limited = try #require(try state(database, "sk-check-limited-0000005"))
            #expect(["cooling 29", "cooling 30"].contains { limited.hasPrefix($0) }, "\(limited)")
            let dated = try #require(try state(database, "sk-check-dated-000000006"))
            #expect(["cooling 118", "cooling 119", "cooling 120"].contains { dated.hasPrefix($0) }, "\(dated)")
            for key in ["sk-check-broken-00000007", "sk-check-down-0000000008", "sk-check-timeout-0000009"] {
                #expect(try state(database, key)?.hasPrefix("available failures=1") == true)
            }
            // Each key asked once, at the model list, with the key in its header only.
            let requests = api.requests
            #expect(requests.count == 9)
            #expect(Set(requests.compactMap(\.key)) == Set(keys))
            for request in requests {
                #expect(request.method == "GET" && request.path == "/v1/models")
                #expect(request.headers["user-agent"]?.hasPrefix("keyadmin/") == true)
            }
            // Who checked and what changed: the disables carry the actor; the check is an event.
            let events = try database.values(
                """
                SELECT action || ' ' || coalesce(key_number::text, '-') || ' ' || actor || ' ' || application_name AS value
                FROM keyadmin.key_events WHERE action IN ('key_disabled_automatically', 'provider_checked')
                ORDER BY id
                """)
            #expect(events.filter { $0?.hasPrefix("key_disabled_automatically") == true }.count == 3)
            #expect(events.allSatisfy { $0?.hasSuffix(" ops@test keyadmin --check") == true }, "\(events)")
            #expect(events.last == "provider_checked - ops@test keyadmin --check")
            let history = try keyadmin(database, ["--history", "--limit", "1"])
            #expect(
                history.stdout.contains(
                    "provider checked  standin  9 of 9 keys: 1 ok, 3 disabled, 0 still refused, 2 cooling down, "
                        + "3 failing, 0 other answers, 0 no answer, 0 enabled again"), "\(history.stdout)")
        }
    }

    @Test func keysWithoutAnAnswerAreShownButNotRecorded() throws {
        let answers = [
            "sk-check-slow-0000000001": "slow", "sk-check-closed-00000002": "close",
            "sk-check-moved-000000003": "redirect", "sk-check-big-00000000004": "big",
            "sk-check-refused-0000005": "401",
        ]
        let api = try StandInModelsAPI(answers: answers)
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = answers.keys.sorted()
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin", "--timeout", "1"])
            // No answer (6) wins over a refusal (5): the check is incomplete.
            #expect(run.status == 6, "\(run.stderr)")
            #expect(run.stdout.contains("5 keys: 1 ok, 1 disabled (401), 3 no answer\n"), "\(run.stdout)")
            #expect(run.stdout.contains("timeout"))
            #expect(
                run.stdout.contains("302 ") && run.stdout.contains("a redirect to 127.0.0.2:\(api.port), not followed"))
            #expect(run.stderr.contains("error: 3 of 5 keys got no answer"), "\(run.stderr)")
            #expect(run.stderr.contains("(1 redirected to 127.0.0.2:\(api.port))"), "\(run.stderr)")
            expectNoKeyShown(run, keys)
            for key in ["sk-check-slow-0000000001", "sk-check-closed-00000002", "sk-check-moved-000000003"] {
                #expect(try state(database, key) == "available failures=0 last=-")
            }
            // The redirect was not followed: nothing reached the other host.
            #expect(api.requests.allSatisfy { $0.listener == "127.0.0.1" })
            // A 10 MB body (sent over 3 s) is cut short once the status is known: the key
            // answered 200 within the 1 s limit.
            #expect(run.stdout.contains(" 200 "), "\(run.stdout)")
        }
    }

    @Test func eachAPIStyleSendsTheKeyInItsOwnHeader() throws {
        let api = try StandInModelsAPI(answers: ["AIzaStyleGoogleInvalid0001": "google-invalid"])
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "one", keys: ["sk-style-openai-00000001"], at: api.baseURL())
            try provider(database, "two", keys: ["sk-style-anthropic-0000001"], at: api.baseURL(), style: "anthropic")
            try provider(database, "three", keys: ["AIzaStyleGoogle000000001"], at: api.baseURL(), style: "google")
            for name in ["one", "two", "three"] { #expect(try keyadmin(database, ["--check", name]).status == 0) }
            let byKey = Dictionary(api.requests.map { ($0.key ?? "", $0.headers) }) { first, _ in first }
            #expect(byKey["sk-style-openai-00000001"]?["authorization"] == "Bearer sk-style-openai-00000001")
            let anthropic = try #require(byKey["sk-style-anthropic-0000001"])
            #expect(anthropic["x-api-key"] == "sk-style-anthropic-0000001" && anthropic["authorization"] == nil)
            #expect(anthropic["anthropic-version"] == "2023-06-01")
            let google = try #require(byKey["AIzaStyleGoogle000000001"])
            #expect(google["x-goog-api-key"] == "AIzaStyleGoogle000000001" && google["authorization"] == nil)
            #expect(api.requests.allSatisfy { !$0.path.contains("sk-") && !$0.path.contains("AIza") })
            // Google answers a bad key with 400 API_KEY_INVALID: a refusal, recorded as a 401;
            // the same 400 from another API is the request's fault and changes nothing.
            #expect(try keyadmin(database, ["--add-key", "three", "AIzaStyleGoogleInvalid0001"]).status == 0)
            #expect(try keyadmin(database, ["--add-key", "one", "AIzaStyleGoogleInvalid0001"]).status == 0)
            let rejected = try keyadmin(database, ["--check", "three", "--key", "2"])
            #expect(
                rejected.status == 5 && rejected.stdout.contains("API_KEY_INVALID: recorded as a 401"),
                "\(rejected.stdout)")
            #expect(rejected.stdout.contains("1 key: 0 ok, 1 disabled (401)"), "\(rejected.stdout)")
            let other = try keyadmin(database, ["--check", "one", "--key", "2"])
            #expect(other.stdout.contains("1 key: 0 ok, 1 other answer (not the key's fault)"), "\(other.stdout)")
            let states = try database.values(
                """
                SELECT p.provider_name || ' ' || (k.disabled_at IS NOT NULL)::text AS value
                FROM provider_api_keys AS k JOIN providers AS p ON p.id = k.provider_id
                WHERE k.api_key = 'AIzaStyleGoogleInvalid0001' ORDER BY 1
                """)
            #expect(states == ["one false", "three true"], "\(states)")
        }
    }

    @Test func operatorDisabledKeysAreNeverAskedAndReviveEnablesOnlyKeysThatAnswer() throws {
        let answers = [
            "sk-revive-topped-up-00001": "200", "sk-revive-by-hand-000002": "200", "sk-revive-still-bad-0003": "401",
            "sk-revive-healthy-000004": "200",
        ]
        let api = try StandInModelsAPI(answers: answers)
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "standin", keys: answers.keys.sorted(), at: api.baseURL())
            // Sorted: #1 by-hand, #2 healthy, #3 still-bad, #4 topped-up.
            #expect(try keyadmin(database, ["--disable-key", "standin", "1", "--reason", "leaked"]).status == 0)
            let store = try database.store()
            for key in ["sk-revive-still-bad-0003", "sk-revive-topped-up-00001"] {
                _ = try store.reportResult(
                    of: .init(validating: key), for: .init(validating: "standin"), httpStatus: 402)
            }
            let plain = try keyadmin(database, ["--check", "standin"])
            #expect(plain.status == 0, "\(plain.stderr)")
            #expect(plain.stdout.contains("1 key: 1 ok\n"), "\(plain.stdout)")
            #expect(
                plain.stdout.contains(
                    "not checked: 1 disabled by an operator, 2 disabled after a 401/402/403 (add --revive)"),
                "\(plain.stdout)")
            #expect(api.requests.compactMap(\.key) == ["sk-revive-healthy-000004"])

            let revive = try keyadmin(database, ["--check", "standin", "--revive"])
            #expect(revive.status == 5, "\(revive.stderr)")
            #expect(revive.stdout.contains("3 keys: 2 ok, 1 still refused (401), 1 enabled again"), "\(revive.stdout)")
            #expect(revive.stdout.contains("disabled → available (enabled again)"))
            #expect(!api.requests.contains { $0.key == "sk-revive-by-hand-000002" }, "an operator's disable was asked")
            #expect(try state(database, "sk-revive-topped-up-00001") == "available failures=0 last=200")
            #expect(try state(database, "sk-revive-still-bad-0003")?.hasPrefix("disabled automatically") == true)
            #expect(try state(database, "sk-revive-by-hand-000002")?.hasPrefix("disabled by operator") == true)
            let enabled = try database.values(
                "SELECT key_number || ' ' || actor || ' ' || reason AS value FROM keyadmin.key_events WHERE action = 'key_enabled'"
            )
            #expect(enabled == ["4 ops@test keyadmin --check: the provider accepted the key (HTTP 2xx)"], "\(enabled)")
        }
    }

    /// A wrong endpoint (or an account out of credit) refuses every key: that must not disable
    /// the whole pool unless the operator says so.
    @Test func aPoolRefusedWholeIsNotDisabledWithoutForce() throws {
        let api = try StandInModelsAPI(answers: [:], defaultAnswer: "401")
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = (1...5).map { "sk-refused-pool-\(String(format: "%08d", $0))" }
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let held = try keyadmin(database, ["--check", "standin"])
            #expect(held.status == 5, "\(held.stderr)")
            #expect(held.stderr.contains("every key asked was refused (5), so none was disabled"), "\(held.stderr)")
            #expect(held.stdout.contains("5 keys: 0 ok, 5 refused, not recorded\n"), "\(held.stdout)")
            #expect(held.stdout.contains("(not recorded: every key asked was refused)"))
            let history = try keyadmin(database, ["--history", "--limit", "1"])
            #expect(history.stdout.contains("5 of 5 keys: 0 ok, 0 disabled,"), "\(history.stdout)")
            #expect(history.stdout.contains(", 5 refused, not recorded"), "\(history.stdout)")
            #expect(
                try database.integer(
                    "SELECT count(*)::integer AS value FROM provider_api_keys WHERE disabled_at IS NOT NULL") == 0)
            let forced = try keyadmin(database, ["--check", "standin", "--force"])
            #expect(forced.status == 5 && forced.stdout.contains("5 keys: 0 ok, 5 disabled (401)"), "\(forced.stdout)")
            #expect(
                try database.integer(
                    "SELECT count(*)::integer AS value FROM provider_api_keys WHERE disabled_at IS NOT NULL") == 5)
        }
    }

    @Test func refusalsHeldUntilAKeyWorksAreRecordedThen() throws {
        let keys = (1...40).map { "sk-held-refusal-\(String(format: "%08d", $0))" }
        // The first 20 keys are refused at once; the others work, 200 ms later.
        let answers = Dictionary(uniqueKeysWithValues: keys.prefix(20).map { ($0, "401") })
        let api = try StandInModelsAPI(answers: answers, defaultAnswer: "after:200")
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin"])
            #expect(run.status == 5 && run.stdout.contains("40 keys: 20 ok, 20 disabled (401)\n"), "\(run.stdout)")
            #expect(
                try database.integer(
                    "SELECT count(*)::integer AS value FROM provider_api_keys WHERE disabled_at IS NOT NULL") == 20)
        }
    }

    @Test func aPoolRefusedFromTheStartStopsEarly() throws {
        let api = try StandInModelsAPI(answers: [:], defaultAnswer: "401")
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = (1...200).map { "sk-refused-early-\(String(format: "%08d", $0))" }
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin"])
            #expect(run.status == 5 && run.stdout.contains("keys asked were all refused"), "\(run.stdout)")
            // The first 32 refusals, and at most the 16 requests in flight then.
            #expect(api.requests.count < 32 + 16, "\(api.requests.count) keys were sent")
            #expect(
                try database.integer(
                    "SELECT count(*)::integer AS value FROM provider_api_keys WHERE disabled_at IS NOT NULL") == 0)
        }
    }

    /// Keys whose requests were in flight when the refusal guard stopped the check are named
    /// as not checked, not skipped silently: every key the provider saw is either in the table
    /// or in that list, never both.
    @Test func keysInFlightWhenTheGuardStopsAreNamed() throws {
        let keys = (1...60).map { "sk-in-flight-\(String(format: "%08d", $0))" }
        // The first 32 are refused at once; the rest would answer after a minute.
        let api = try StandInModelsAPI(
            answers: Dictionary(uniqueKeysWithValues: keys.prefix(32).map { ($0, "401") }), defaultAnswer: "slow")
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin", "--json"])
            #expect(run.status == 5, "\(run.stderr)")
            let document = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let rows = Set(((document?["keys"] as? [[String: Any]]) ?? []).compactMap { $0["number"] as? Int })
            let inFlight = (document?["not_checked"] as? [String: Any])?["in_flight_when_stopped"] as? [Int] ?? []
            let seen = Set(api.requests.compactMap(\.key).compactMap { key in keys.firstIndex(of: key).map { $0 + 1 } })
            #expect(rows.isDisjoint(with: inFlight), "\(rows) \(inFlight)")
            #expect(
                seen.isSubset(of: rows.union(inFlight)),
                "seen \(seen.sorted()), table \(rows.sorted()), in flight \(inFlight)")
            #expect(inFlight.allSatisfy { $0 > 32 }, "\(inFlight)")
        }
    }

    /// Whether this process may hide files in a mount namespace of its own (root, `unshare -m`).
    static var mountNamespaces: Bool {
        getuid() == 0 && (try? runTool(["unshare", "-m", "true"]).status) == 0
    }

    /// A machine without libcurl: every other command runs, and --check says what to install.
    @Test(.enabled(if: mountNamespaces, "needs root and unshare -m"))
    func withoutLibcurlOnlyCheckStopsAndSaysWhatToInstall() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "openai", keys: ["sk-no-curl-key-00000001"], at: "https://api.openai.com/v1")
            // Every libcurl the loader knows is hidden behind an empty file, in this namespace only.
            let script = """
                for library in $(ldconfig -p | awk '/libcurl/ { print $NF }'); do
                    mount --bind /dev/null "$(readlink -f "$library")"
                done
                "$0" --database-url "$1" --get-key openai 1
                "$0" --database-url "$1" --check openai
                echo "status $?"
                """
            let run = try runTool(
                ["unshare", "-m", "sh", "-c", script, KeyAdminProcess.executable.path, database.connectionString],
                environment: ChildEnvironment.make(["KEYADMIN_ACTOR": "ops@test"]))
            #expect(run.output.hasPrefix("sk-no-curl-key-00000001\n"), "\(run.output)")
            #expect(
                run.output.contains(
                    "error: --check needs libcurl: libcurl is not installed (install it: apt-get install libcurl4"),
                "\(run.output)")
            #expect(run.output.hasSuffix("status 1\n"), "\(run.output)")
            // One line: nothing of the check is printed before it.
            #expect(!run.output.contains("checking"), "\(run.output)")
        }
    }

    /// A key a check disables names the check's actor in --list, as its history event does
    /// (it named the database role).
    @Test func aKeyDisabledByACheckNamesTheChecksActor() throws {
        let keys = ["sk-check-actor-000000001", "sk-check-actor-000000002", "sk-check-actor-000000003"]
        let api = try StandInModelsAPI(answers: [keys[0]: "401"])
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin", "--actor", "alice@ops"])
            #expect(run.status == 5, "\(run.stderr)")
            let list = try keyadmin(database, ["--list", "--json"])
            #expect(list.stdout.contains(#""disabled_by":"alice@ops""#), "\(list.stdout)")
            #expect(
                try database.values(
                    "SELECT actor AS value FROM keyadmin.key_events WHERE action = 'key_disabled_automatically'")
                    == ["alice@ops"])
        }
    }

    /// An endpoint that redirects every request is named as the cause, with where it points
    /// (the host only), not as keys that "got no answer" for want of time.
    @Test func anEndpointThatRedirectsIsSaidToRedirect() throws {
        let keys = ["sk-check-moved-000000001", "sk-check-moved-000000002"]
        let api = try StandInModelsAPI(answers: [:], defaultAnswer: "redirect")
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin"])
            #expect(run.status == 6, "\(run.stderr)")
            #expect(
                run.error.hasPrefix("error: the endpoint redirected 2 of 2 requests (to 127.0.0.2:\(api.port));"),
                "\(run.stderr)")
            #expect(run.error.contains("keyadmin --set-endpoint standin"), "\(run.stderr)")
            #expect(!run.error.contains("--timeout"), "\(run.stderr)")
            expectNoKeyShown(run, keys)
            #expect(api.requests.allSatisfy { $0.listener == "127.0.0.1" })
        }
    }

    @Test func keyChecksOneKeyAndSaysWhyItCannot() throws {
        let api = try StandInModelsAPI(answers: [:])
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = ["sk-one-key-000000000001", "sk-one-key-000000000002", "sk-one-key-000000000003"]
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let one = try keyadmin(database, ["--check", "standin", "--key", "2"])
            #expect(one.status == 0, "\(one.stderr)")
            #expect(api.requests.compactMap(\.key) == ["sk-one-key-000000000002"])
            let missing = try keyadmin(database, ["--check", "standin", "--key", "9"])
            #expect(missing.status == 3 && missing.stderr.contains("no key #9"), "\(missing.stderr)")
            #expect(try keyadmin(database, ["--disable-key", "standin", "3"]).status == 0)
            let disabled = try keyadmin(database, ["--check", "standin", "--key", "3"])
            #expect(disabled.status == 3 && disabled.stderr.contains("disabled by an operator"), "\(disabled.stderr)")
            let swapped = try keyadmin(database, ["--check", "standin", "--key", "sk-one-key-000000000001"])
            #expect(swapped.status == 2 && swapped.stderr.contains("looks like a key"))
            expectNoKeyShown(swapped, keys)
            let concurrency = try keyadmin(database, ["--check", "standin", "--concurrency", "0"])
            #expect(concurrency.status == 2 && concurrency.stderr.contains("1 to 256"))
            #expect(api.requests.count == 1)
        }
    }

    @Test func aThousandKeysAreEachAskedOnce() throws {
        let keys = (1...1000).map { "sk-many-keys-\(String(format: "%010d", $0))" }
        // Key #1 answers last of its batch: results still come in number order.
        let api = try StandInModelsAPI(answers: [keys[0]: "after:300"], latencyMilliseconds: 50)
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let run = try keyadmin(database, ["--check", "standin", "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            let results = try #require(document["keys"] as? [[String: Any]])
            #expect(results.count == 1000)
            #expect(results.map { $0["number"] as? Int } == (1...1000).map { $0 })
            let summary = try #require(document["summary"] as? [String: Int])
            #expect(summary["ok"] == 1000 && summary["checked"] == 1000)
            #expect(api.requests.count == 1000 && Set(api.requests.compactMap(\.key)).count == 1000)
            // 16 at a time by default: never more, and the stand-in did see them together.
            let most = api.requests.map(\.inFlight).max() ?? 0
            #expect(most <= 16 && most >= 8, "at most \(most) at a time")
            expectNoKeyShown(run, keys)
        }
    }

    /// Keys with a failure recorded (each 503 answer counts one).
    func keysFailing(_ database: TestDatabase) throws -> Int {
        try database.integer(
            "SELECT count(*)::integer AS value FROM provider_api_keys WHERE consecutive_failures > 0") ?? -1
    }

    /// `--check standin`, 4 at a time, started and left running once 8 answers are recorded.
    func checkUnderWay(_ database: TestDatabase) throws -> RunningKeyAdmin {
        let check = try RunningKeyAdmin([
            "--database-url", database.connectionString, "--check", "standin", "--concurrency", "4",
        ])
        var waited = 0
        while try keysFailing(database) < 8, waited < 500 {
            usleep(10_000)
            waited += 1
        }
        return check
    }

    @Test func ctrlCKeepsTheAnswersRecordedAndHalfRecordsNothing() throws {
        let api = try StandInModelsAPI(answers: [:], defaultAnswer: "503", latencyMilliseconds: 100)
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = (1...200).map { "sk-stop-key-\(String(format: "%010d", $0))" }
            try provider(database, "standin", keys: keys, at: api.baseURL())
            // Some answers recorded (each 503 counts a failure), then Ctrl-C.
            let check = try checkUnderWay(database)
            check.send(SIGINT)
            let run = check.wait()
            #expect(run.status == 130, "\(run.stderr)")
            #expect(run.stderr.contains("interrupted:") && run.stderr.contains("their answers are recorded"))
            let stored = try keysFailing(database)
            let rows = run.stdout.split(separator: "\n").filter { $0.contains(" 503 ") }.count
            // Every answer shown is recorded and every recorded answer shown; the rest untouched.
            #expect(stored == rows && stored >= 8 && stored < 200, "\(stored) recorded, \(rows) shown")
            #expect(
                try database.integer(
                    "SELECT count(*)::integer AS value FROM provider_api_keys WHERE consecutive_failures > 1")
                    == 0)
            let event = try database.values(
                "SELECT (detail ->> 'interrupted') || ' ' || (detail ->> 'checked') AS value FROM keyadmin.key_events WHERE action = 'provider_checked'"
            )
            #expect(event == ["true \(stored)"], "\(event)")
        }
    }

    /// The server drops the connection mid-check: the check stops with one line, and what it
    /// printed was recorded (the batch under way when it broke may or may not be, as it says).
    @Test func aConnectionLostMidCheckStopsWithWhatWasRecorded() throws {
        let api = try StandInModelsAPI(answers: [:], defaultAnswer: "503", latencyMilliseconds: 100)
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = (1...200).map { "sk-dropped-key-\(String(format: "%010d", $0))" }
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let check = try checkUnderWay(database)
            _ = try database.values(
                """
                SELECT pg_terminate_backend(pid)::text AS value FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'keyadmin'
                """)
            let run = check.wait()
            #expect(run.status == 1, "\(run.stderr)")
            #expect(run.stderr.contains("may or may not have been saved"), "\(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
            let rows = run.stdout.split(separator: "\n").filter { $0.contains(" 503 ") }.count
            let stored =
                try database.integer(
                    "SELECT count(*)::integer AS value FROM provider_api_keys WHERE consecutive_failures > 0") ?? -1
            #expect(stored >= rows && stored <= rows + 4 && stored < 200, "\(stored) recorded, \(rows) shown")
        }
    }

    @Test(.enabled(if: TerminalSession.isAvailable, "script(1) is not installed"))
    func aTerminalSeesTheProgressAndThePipeDoesNot() throws {
        let api = try StandInModelsAPI(answers: [:], defaultAnswer: "503", latencyMilliseconds: 50)
        try TestDatabase.with { (database: TestDatabase) throws in
            let keys = (1...12).map { "sk-progress-key-\(String(format: "%08d", $0))" }
            try provider(database, "standin", keys: keys, at: api.baseURL())
            let arguments = ["--database-url", database.connectionString, "--check", "standin", "--concurrency", "2"]
            let session = try TerminalSession.run(arguments, answers: [])
            #expect(session.status == 5, "\(session.output)")
            #expect(session.output.contains("\u{1B}[Kchecking standin: 2/12, 2 not ok"), "\(session.output)")
            #expect(session.output.contains("12 keys: 0 ok, 12 failing (408, 5xx)"))
            let piped = try keyadmin(database, ["--check", "standin", "--concurrency", "2"])
            #expect(!piped.stderr.contains("checking standin:") && !piped.stdout.contains("\u{1B}"), "\(piped.stderr)")
        }
    }

    @Test func certificatesAreVerifiedAgainstTheTrustedAuthorities() throws {
        let api = try StandInModelsAPI(answers: [:], tls: true)
        try TestDatabase.with { (database: TestDatabase) throws in
            try provider(database, "standin", keys: ["sk-tls-key-00000000001"], at: api.baseURL(scheme: "https"))
            let untrusted = try keyadmin(database, ["--check", "standin"])
            #expect(untrusted.status == 6, "\(untrusted.stdout)\(untrusted.stderr)")
            #expect(untrusted.stdout.contains("TLS failed"), "\(untrusted.stdout)")
            #expect(try state(database, "sk-tls-key-00000000001") == "available failures=0 last=-")
            #expect(api.requests.isEmpty, "the key went to a server whose certificate was not trusted")
            let trusted = try keyadmin(database, ["--check", "standin"], environment: ["SSL_CERT_FILE": api.caFile])
            #expect(trusted.status == 0, "\(trusted.stdout)\(trusted.stderr)")
            #expect(api.requests.compactMap(\.key) == ["sk-tls-key-00000000001"])
        }
    }

    @Test func endpointsAreCheckedBeforeTheyAreStored() throws {
        try TestDatabase.with { (database: TestDatabase) throws in
            #expect(try keyadmin(database, ["--add-provider", "openai"]).status == 0)
            #expect(try keyadmin(database, ["--add-provider", "inhouse"]).status == 0)
            let refusals = [
                ("http://api.example.com/v1", "http is for loopback hosts only"),
                ("https://user:secret@api.example.com/v1", "no user or password"),
                ("https://api.example.com/v1?key=abc", "without ?query"),
                ("https://api.example.com/v1/sk-proj-abcdefghijklmnop1234", "shaped like a key"),
                ("sk-proj-abcdefghijklmnop1234", "looks like a key"),
                ("ftp://api.example.com", "an endpoint is an https URL"),
                ("https://api.example.com:99999/v1", "no valid host"),
            ]
            for (url, message) in refusals {
                let run = try keyadmin(database, ["--set-endpoint", "inhouse", url])
                #expect(run.status == 2 && run.stderr.contains(message), "\(url): \(run.stderr)")
                #expect(!run.stderr.contains("abcdefghijklmnop") && !run.stderr.contains("secret"))
            }
            let swapped = try keyadmin(database, ["--set-endpoint", "https://llm.example.com/v1", "inhouse"])
            #expect(swapped.status == 2 && swapped.stderr.contains("that looks like a URL, not a provider name"))
            let style = try keyadmin(
                database, ["--set-endpoint", "inhouse", "https://llm.example.com/v1", "--api", "cohere"])
            #expect(style.status == 2 && style.stderr.contains("openai, anthropic or google"))
            #expect(
                try database.integer("SELECT count(*)::integer AS value FROM providers WHERE endpoint_url IS NOT NULL")
                    == 0)

            let noEndpoint = try keyadmin(database, ["--check", "inhouse"])
            #expect(noEndpoint.status == 1 && noEndpoint.stderr.contains("keyadmin --set-endpoint inhouse"))
            let set = try keyadmin(
                database, ["--set-endpoint", "inhouse", "https://LLM.example.com/v1/", "--api", "anthropic"])
            #expect(set.stdout.contains("inhouse is checked at https://llm.example.com/v1/models (anthropic style)"))
            let builtIn = try keyadmin(database, ["--set-endpoint", "openai", "default"])
            #expect(builtIn.stdout.contains("https://api.openai.com/v1/models"), "\(builtIn.stdout)")
            let events = try database.values(
                "SELECT provider_name || ' ' || (detail ->> 'endpoint_url') || ' ' || actor AS value FROM keyadmin.key_events WHERE action = 'endpoint_set'"
            )
            #expect(events == ["inhouse https://llm.example.com/v1 ops@test"], "\(events)")
        }
    }
}
