import KeyStore

/// Shell completion scripts, written from the same tables the parser reads, so that a new
/// option is completed as soon as it exists.
enum Completions {
    static func script(for shell: Shell) -> String {
        switch shell {
        case .bash: bash
        case .zsh: zsh
        case .fish: fish
        }
    }

    private struct Entry {
        let spelling: String
        let help: String
        let valueNames: [String]
    }

    private static var entries: [Entry] {
        CommandName.allCases.map {
            Entry(spelling: $0.rawValue, help: $0.entry.help, valueNames: $0.entry.values.map(\.name))
        }
            + Modifier.allCases.map {
                Entry(spelling: $0.rawValue, help: $0.help, valueNames: $0.valueName.map { [$0] } ?? [])
            }
            + [
                Entry(spelling: "--help", help: "show the help", valueNames: []),
                Entry(spelling: "--version", help: "show the version", valueNames: []),
            ]
    }

    private static let shells = Shell.allCases.map(\.rawValue).joined(separator: " ")
    /// What --state takes, in the short words --help shows.
    private static let states = KeyState.filterWords.joined(separator: " ")
    /// What --api takes.
    private static let styles = APIStyle.allCases.map(\.rawValue).joined(separator: " ")

    private static var bash: String {
        """
        # keyadmin completion for bash: source <(keyadmin --completions bash)
        _keyadmin() {
            local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
            case $prev in
                --file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
                --completions) COMPREPLY=($(compgen -W "\(shells)" -- "$cur")); return ;;
                --state) COMPREPLY=($(compgen -W "\(states)" -- "$cur")); return ;;
                --api) COMPREPLY=($(compgen -W "\(styles)" -- "$cur")); return ;;
            esac
            COMPREPLY=($(compgen -W "\(entries.map(\.spelling).joined(separator: " "))" -- "$cur"))
        }
        complete -o default -F _keyadmin keyadmin

        """
    }

    private static var zsh: String {
        let specs = entries.map { entry -> String in
            let values = entry.valueNames.map { name -> String in
                switch name {
                case "PATH": ":\(name):_files"
                case "SHELL": ":\(name):(\(shells))"
                case "STATE": ":\(name):(\(states))"
                case "STYLE": ":\(name):(\(styles))"
                default: ":\(name): "
                }
            }.joined()
            return "        '\(entry.spelling)[\(zshEscaped(entry.help))]\(values)'"
        }
        return """
            #compdef keyadmin
            # keyadmin completion for zsh: source <(keyadmin --completions zsh), after compinit
            _keyadmin() {
                _arguments \\
            \(specs.joined(separator: " \\\n"))
            }
            if (( $+functions[compdef] )); then compdef _keyadmin keyadmin; fi

            """
    }

    private static var fish: String {
        let lines = entries.map { entry -> String in
            var line = "complete -c keyadmin -l \(entry.spelling.dropFirst(2))"
            switch entry.valueNames.first {
            case "PATH"?: line += " -r -F"
            case "SHELL"?: line += " -x -a '\(shells)'"
            case "STATE"?: line += " -x -a '\(states)'"
            case "STYLE"?: line += " -x -a '\(styles)'"
            case _?: line += " -x"
            case nil: break
            }
            return line + " -d '\(fishEscaped(entry.help))'"
        }
        return "# keyadmin completion for fish: keyadmin --completions fish | source\ncomplete -c keyadmin -f\n"
            + lines.joined(separator: "\n") + "\n"
    }

    /// Inside '...[help]': no quote, brackets or colon.
    private static func zshEscaped(_ text: String) -> String {
        String(text.map { "'[]:".contains($0) ? " " : $0 })
    }

    private static func fishEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "\\" || character == "'" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

enum Shell: String, CaseIterable {
    case bash, zsh, fish
}
