import Foundation
import TestSupport
import Testing

/// The `--list` and `--check` tables as committed in Tests/Golden/tables: a change in what
/// operators read shows up in review. Times, ports and the database line vary by run and are
/// replaced by placeholders; everything else is compared as it is.
@Suite struct TableGoldenTests {
    /// The run's output with what varies replaced: the database line, a loopback port.
    static func normalized(_ output: String) -> String {
        output.replacing(#/database: [^\n]*/#, with: "database: DATABASE")
            .replacing(#/127\.0\.0\.1:\d+/#, with: "127.0.0.1:PORT")
    }

    @Test func theListTableIsTheCommittedOne() throws {
        try TestDatabase.withSolo { database in
            #expect(try keyadmin(database, ["--add-provider", "spare"]).status == 0)
            #expect(try keyadmin(database, ["--disable-key", "solo", "2", "--reason", "revoked"]).status == 0)
            #expect(try keyadmin(database, ["--set-label", "solo", "1", "team-a"]).status == 0)
            #expect(try keyadmin(database, ["--add-key", "solo", "sk-solo-key-0000000003", "--tier", "2"]).status == 0)
            #expect(try keyadmin(database, ["--set-weight", "solo", "3", "40"]).status == 0)
            try database.connect().query(
                """
                UPDATE provider_api_keys SET created_at = '2026-01-01T00:00:00Z',
                       disabled_at = CASE WHEN disabled_at IS NOT NULL THEN '2026-01-02T00:00:00Z'::timestamptz END,
                       expires_at = CASE WHEN key_number = 3 THEN '2099-01-01T00:00:00Z'::timestamptz END
                """, step: "fixing the times")
            var text = ""
            for arguments in [["--list"], ["--list", "--summary"], ["--list", "--state", "disabled"]] {
                let run = try keyadmin(database, arguments)
                #expect(run.status == 0, "\(run.stderr)")
                text += "$ keyadmin \(arguments.joined(separator: " "))\n" + Self.normalized(run.stdout) + "\n"
            }
            #expect(text == GoldenFile.expected("tables/list.txt", actual: text))
        }
    }

    @Test func theCheckTableIsTheCommittedOne() throws {
        let keys = ["sk-table-key-0000000001", "sk-table-key-0000000002", "sk-table-key-0000000003"]
        let api = try StandInModelsAPI(answers: [keys[1]: "401", keys[2]: "429"])
        try TestDatabase.with { (database: TestDatabase) throws in
            #expect(try keyadmin(database, ["--add-provider", "standin"]).status == 0)
            #expect(try keyadmin(database, ["--add-bulk", "standin"], stdin: keys.joined(separator: "\n")).status == 0)
            #expect(try keyadmin(database, ["--set-endpoint", "standin", api.baseURL()]).status == 0)
            // One request at a time: the rows come in key order.
            let run = try keyadmin(database, ["--check", "standin", "--concurrency", "1"])
            #expect(run.status == 5, "\(run.stderr)")
            // The milliseconds column is the machine's pace.
            let table = Self.normalized(run.stdout).replacing(#/(?m)^( +#\d  \S+ +\d{3}) +\d+/#) { match in
                String(match.output.1) + "  MS"
            }
            let text = table + "stderr: " + run.error
            #expect(text == GoldenFile.expected("tables/check.txt", actual: text))
        }
    }
}
