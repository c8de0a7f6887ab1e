import KeyStore
import Testing

@testable import KeyAdmin

/// `--usage`'s chart and `--metrics`' text, drawn without a database.
@Suite struct UsageChartTests {
    func counts(succeeded: Int = 0, rateLimited: Int = 0, refused: Int = 0, failed: Int = 0) -> UsageCounts {
        var counts = UsageCounts()
        counts.succeeded = succeeded
        counts.rateLimited = rateLimited
        counts.refused = refused
        counts.failed = failed
        return counts
    }

    @Test func segmentsEndWhereTheRunningTotalEndsAndAddUpToTheScaledWhole() {
        let chart = UsageChart(glyphs: .unicode, colour: false, width: 80)
        #expect(chart.bar(counts(succeeded: 3, rateLimited: 1, failed: 1), busiest: 5, width: 10) == "██████▓▓░░")
        // Half the busiest day: half the width, padded.
        #expect(chart.bar(counts(succeeded: 2, refused: 1), busiest: 6, width: 12) == "████▒▒      ")
        // One request on a day beside a busy one is still seen.
        #expect(chart.bar(counts(succeeded: 1), busiest: 1000, width: 10) == "█         ")
        #expect(chart.bar(counts(), busiest: 0, width: 4) == "    ")
        let ascii = UsageChart(glyphs: .ascii, colour: false, width: 80)
        #expect(ascii.bar(counts(succeeded: 1, rateLimited: 1), busiest: 2, width: 4) == "##%%")
    }

    @Test func colourPaintsOneBlockPerOutcome() {
        let chart = UsageChart(glyphs: .unicode, colour: true, width: 80)
        #expect(
            chart.bar(counts(succeeded: 1, rateLimited: 1), busiest: 2, width: 2)
                == "\u{1B}[32m█\u{1B}[0m\u{1B}[33m█\u{1B}[0m")
    }

    @Test func theLinesFitTheWidthGiven() {
        let chart = UsageChart(glyphs: .unicode, colour: false, width: 60)
        let lines = chart.lines([
            UsageDay(day: "2026-12-01", counts: counts(succeeded: 1_234, failed: 10)),
            UsageDay(day: "2026-12-02", counts: counts(succeeded: 5)),
        ])
        #expect(lines.allSatisfy { $0.count == 60 || $0.hasSuffix("5 requests") })
        #expect(lines[0].hasPrefix("2026-12-01  ") && lines[0].hasSuffix("1,244 requests"))
    }

    @Test(arguments: [
        (["LC_ALL": "en_US.UTF-8"], UsageChart.Glyphs.unicode), (["LC_ALL": "C", "LANG": "en_US.UTF-8"], .ascii),
        (["LC_CTYPE": "de_DE.utf8"], .unicode), (["LANG": "C"], .ascii), ([:], .ascii),
    ])
    func theLocaleChoosesTheGlyphs(_ environment: [String: String], _ glyphs: UsageChart.Glyphs) {
        #expect(UsageChart.Glyphs.forLocale { environment[$0] } == glyphs)
    }

    @Test func labelValuesAreEscapedAsTheFormatSays() {
        #expect(PrometheusText.escaped("a\\b\"c\nd") == "a\\\\b\\\"c\\nd")
    }
}
