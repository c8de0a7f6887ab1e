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

/// Each command's example in its help is a command line that parses as that command.
@Suite struct HelpExampleTests {
    /// The words after `keyadmin` in an example, as a shell would split them (a comment, and
    /// a `$(...)` or `<(...)` around the call, left out).
    static func arguments(of example: String) -> [String] {
        guard let start = example.range(of: "keyadmin ") else { return [] }
        var text = example[start.upperBound...]
        if let comment = text.range(of: "  #") { text = text[..<comment.lowerBound] }
        if let close = text.firstIndex(of: ")") { text = text[..<close] }
        var words: [String] = []
        var word = ""
        var quoted = false
        for character in text {
            if character == "\"" {
                quoted.toggle()
            } else if character == " " && !quoted {
                if !word.isEmpty { words.append(word) }
                word = ""
            } else {
                word.append(character)
            }
        }
        if !word.isEmpty { words.append(word) }
        return words
    }

    @Test(arguments: CommandName.allCases)
    func theExampleIsTheCommand(_ command: CommandName) throws {
        let words = Self.arguments(of: command.entry.example)
        guard case .run(let invocation) = try Invocation.parse(words) else {
            Issue.record("\(command.entry.example) is not a command")
            return
        }
        #expect(invocation.name == command, "\(command.entry.example)")
    }
}
