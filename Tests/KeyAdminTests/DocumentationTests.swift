import Foundation
import TestSupport
import Testing

@testable import KeyAdmin

/// The README and docs/ agree with the tool and the schema.
@Suite struct DocumentationTests {
    static let root = repositoryRoot

    static func text(_ path: String) -> String {
        (try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)) ?? ""
    }

    static let readme = text("README.md")

    /// From "## Commands" to the next "## " heading.
    static var commandsSection: Substring {
        guard let start = readme.range(of: "\n## Commands\n") else { return "" }
        let rest = readme[start.upperBound...]
        return rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
    }

    @Test func everyOptionIsDocumentedAndEveryDocumentedOptionExists() {
        let known = Set(
            CommandName.allCases.map(\.rawValue) + Modifier.allCases.map(\.rawValue) + ["--help", "--version"])
        let section = String(Self.commandsSection)
        #expect(!section.isEmpty)
        for option in known {
            #expect(section.contains("`\(option)"), "\(option) is not in the README's Commands section")
        }
        let documented = Set(section.matches(of: #/`(--[a-z][a-z-]*)/#).map { String($0.1) })
        #expect(
            documented.subtracting(known).isEmpty, "unknown options in the README: \(documented.subtracting(known))")
    }

    /// The development notes name every address the tests send traffic to.
    @Test func theTestAddressIsTheOneTheDevelopmentNotesName() {
        #expect(
            Self.text("docs/development.md").contains("to \(NetworkNamespace.remoteAddress), a documentation address"))
    }

    /// The loop docs/backend.md shows is the one examples/backend_loop.py runs (and a test runs).
    @Test func theBackendLoopShownIsTheOneThatRuns() {
        let document = Self.text("docs/backend.md")
        let example = Self.text("examples/backend_loop.py")
        let shown = document.split(separator: "```python\n").dropFirst().compactMap { block -> Substring? in
            guard let end = block.firstRange(of: "```") else { return nil }
            return block[..<end.lowerBound]
        }.first { $0.contains("def chat(db, prompt") }
        #expect(shown != nil)
        #expect(example.contains(shown ?? "missing"), "docs/backend.md shows a chat() that the example does not have")
    }

    /// docs/schema.sql is what the migrations make today: dumped again from a database they were
    /// just applied to, it is the same text.
    @Test func theSchemaDocumentIsWhatTheMigrationsMake() throws {
        let committed = Self.text("docs/schema.sql")
        #expect(committed.contains("CREATE FUNCTION public.get_random_api_key(p_provider_name text)"))
        let (status, dumped) = try runTool([
            "bash", Self.root.appendingPathComponent("scripts/schema.sh").path, "--print",
        ])
        #expect(status == 0, "\(dumped)")
        #expect(dumped == committed, "docs/schema.sql is stale: run scripts/schema.sh and commit the result")
    }

    /// Each command file opens with its usage, as `--help` and the usage lines write it: a new
    /// option that the comment forgets fails here.
    @Test func eachCommandFileOpensWithItsUsage() throws {
        let directory = Self.root.appendingPathComponent("Sources/KeyAdmin/Commands")
        let headers = try FileManager.default.contentsOfDirectory(atPath: directory.path).map { file in
            let text = Self.text("Sources/KeyAdmin/Commands/" + file)
            let header = text.components(separatedBy: "\nstruct ").first ?? ""
            return header.replacingOccurrences(of: "\n/// ", with: " ")
        }
        for command in CommandName.allCases {
            #expect(headers.contains { $0.contains("`\(command.usage)`") }, "no file opens with `\(command.usage)`")
        }
    }

    @Test func exitCodesAreTheTools() {
        let section = String(Self.commandsSection)
        for status in ExitStatus.allCases {
            #expect(section.contains("\n| \(status.rawValue) | "), "exit code \(status.rawValue) in the README")
            #expect(HelpText.full.contains("\n  \(status.rawValue) "), "exit code \(status.rawValue) in --help")
        }
    }
}
