import Foundation
import TestSupport
import Testing

@testable import KeyAdmin

/// The README's Commands section and the tool agree, spelling for spelling.
@Suite struct ReadmeTests {
    static let readme: String = {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

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

    /// The README names every address the tests send traffic to.
    @Test func theTestAddressIsTheOneTheReadmeNames() {
        #expect(Self.readme.contains("to \(NetworkNamespace.remoteAddress), a documentation address"))
    }

    @Test func exitCodesAreTheTools() {
        let section = String(Self.commandsSection)
        for code in [0, 1, 2, 3, 4, 130] { #expect(section.contains("\n| \(code) | "), "exit code \(code)") }
        #expect(HelpText.full.contains("130 interrupted"))
    }
}
