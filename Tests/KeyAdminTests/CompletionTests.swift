import Foundation
import TestSupport
import Testing

/// The completion scripts load in their shells and complete from the option table.
@Suite struct CompletionTests {
    static func installed(_ shell: String) -> Bool {
        ["/usr/bin/", "/bin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + shell) }
    }

    func script(_ shell: String) throws -> URL {
        let output = try KeyAdminProcess.run(["--completions", shell])
        #expect(output.status == 0)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keyadmin-\(UUID().uuidString).\(shell)")
        try output.stdout.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func bashCompletesOptions() throws {
        let file = try script("bash")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runTool([
            "bash", "-c",
            """
            set -e; source '\(file.path)'; complete -p keyadmin >/dev/null
            COMP_WORDS=(keyadmin --add-k); COMP_CWORD=1; _keyadmin; echo "${COMPREPLY[@]}"
            COMP_WORDS=(keyadmin --completions z); COMP_CWORD=2; _keyadmin; echo "${COMPREPLY[@]}"
            COMP_WORDS=(keyadmin --chec); COMP_CWORD=1; _keyadmin; echo "${COMPREPLY[@]}"
            COMP_WORDS=(keyadmin --set-endpoint x https://h --api an); COMP_CWORD=5; _keyadmin; echo "${COMPREPLY[@]}"
            """,
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output == "--add-key\nzsh\n--check\nanthropic\n")
    }

    @Test(.enabled(if: installed("zsh"), "zsh is not installed")) func zshLoadsTheScript() throws {
        let file = try script("zsh")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runTool([
            "zsh", "-f", "-c",
            """
            autoload -Uz compinit && compinit -u -D && source '\(file.path)' && print -r -- $_comps[keyadmin]
            """,
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output == "_keyadmin\n")
    }

    @Test(.enabled(if: installed("fish"), "fish is not installed")) func fishCompletesOptions() throws {
        let file = try script("fish")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runTool(["fish", "--no-config", "-c", "source '\(file.path)'; complete -C 'keyadmin --add-b'"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasPrefix("--add-bulk"), "\(result.output)")
    }
}
