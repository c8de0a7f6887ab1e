import TestSupport
import Testing

@testable import KeyAdmin

/// The help people read, as committed in Tests/Golden/help: a change shows up in review.
@Suite struct HelpGoldenTests {
    @Test func theFullHelpIsTheCommittedOne() {
        // The version line changes with every release; the rest must not change unseen.
        let help = HelpText.full.replacingOccurrences(of: KeyAdminVersion.current, with: "VERSION")
        #expect(help == GoldenFile.expected("help/full.txt", actual: help))
    }

    @Test(arguments: CommandName.allCases)
    func eachCommandsHelpIsTheCommittedOne(_ command: CommandName) {
        let help = HelpText.command(command)
        #expect(help == GoldenFile.expected("help/\(command.rawValue.dropFirst(2)).txt", actual: help))
        #expect(help.hasPrefix("Usage: keyadmin \(command.usage)\n"))
    }
}
