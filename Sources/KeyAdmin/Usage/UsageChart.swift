import KeyStore

/// `--usage`'s chart: one bar per day, stacked by outcome, scaled to the busiest day. Pure: the
/// width, the glyphs and colour come from the caller, so tests draw it exactly.
struct UsageChart {
    /// What a terminal can show: Unicode blocks, or plain ASCII when the locale is not UTF-8.
    enum Glyphs {
        case unicode, ascii

        /// Without colour each outcome has a glyph of its own; with colour, one full block each.
        func glyph(_ outcome: UsageOutcome, colour: Bool) -> Character {
            switch self {
            case .unicode:
                if colour { return "█" }
                switch outcome {
                case .succeeded: return "█"
                case .rateLimited: return "▓"
                case .refused: return "▒"
                case .failed: return "░"
                case .other: return "·"
                }
            case .ascii:
                if colour { return "#" }
                switch outcome {
                case .succeeded: return "#"
                case .rateLimited: return "%"
                case .refused: return "x"
                case .failed: return "!"
                case .other: return "."
                }
            }
        }

        /// From the locale variables, in the order the C library reads them.
        static func forLocale(_ variable: (String) -> String?) -> Glyphs {
            let locale = variable("LC_ALL") ?? variable("LC_CTYPE") ?? variable("LANG") ?? ""
            let lowered = locale.lowercased()
            return lowered.contains("utf-8") || lowered.contains("utf8") ? .unicode : .ascii
        }
    }

    let glyphs: Glyphs
    let colour: Bool
    /// The whole line's width: date, bar and numbers.
    let width: Int

    /// ANSI colours per outcome: green, yellow, red, magenta, dim.
    static func colourCode(_ outcome: UsageOutcome) -> String {
        switch outcome {
        case .succeeded: "32"
        case .rateLimited: "33"
        case .refused: "31"
        case .failed: "35"
        case .other: "2"
        }
    }

    /// "█ 2xx  ▓ 429  ▒ 401/402/403  ░ 408/5xx  · other"
    func legend() -> String {
        UsageOutcome.allCases.map { paint(String(glyphs.glyph($0, colour: colour)), $0) + " " + $0.statuses }
            .joined(separator: "  ")
    }

    /// One line per day: "2026-12-01  ██████▓▓░            1,234 requests, 45,678 tokens".
    func lines(_ days: [UsageDay]) -> [String] {
        let numbers = days.map { day in
            "\(day.counts.requests.grouped) request\(day.counts.requests == 1 ? "" : "s")"
                + (day.counts.tokens > 0 ? ", \(day.counts.tokens.grouped) tokens" : "")
        }
        let numberWidth = numbers.map(\.count).max() ?? 0
        let barWidth = max(10, width - 10 - 2 - 2 - numberWidth)
        let busiest = days.map(\.counts.requests).max() ?? 0
        return zip(days, numbers).map { day, number in
            day.day + "  " + bar(day.counts, busiest: busiest, width: barWidth) + "  " + number
        }
    }

    /// The day's bar, padded to `width`. Each outcome's segment ends where the running total
    /// ends, rounded, so the segments add up to the rounded whole; a day with any requests
    /// shows at least one cell.
    func bar(_ counts: UsageCounts, busiest: Int, width: Int) -> String {
        guard busiest > 0 else { return String(repeating: " ", count: width) }
        var text = ""
        var cells = 0
        var running = 0
        for (outcome, count) in counts.byOutcome where count > 0 {
            running += count
            var end = (running * width + busiest / 2) / busiest
            if end == cells { end = min(width, cells + 1) }
            guard end > cells else { continue }
            text += paint(String(repeating: glyphs.glyph(outcome, colour: colour), count: end - cells), outcome)
            cells = end
        }
        return text + String(repeating: " ", count: max(0, width - cells))
    }

    private func paint(_ text: String, _ outcome: UsageOutcome) -> String {
        colour ? "\u{1B}[\(Self.colourCode(outcome))m\(text)\u{1B}[0m" : text
    }
}
