import Testing

@testable import KeyStore

/// The days `--usage` lists, counted back from the server's last day without a time zone.
@Suite struct UsageDayLabelTests {
    @Test func daysRunBackAcrossMonthsYearsAndLeapDays() {
        #expect(KeyStore.dayLabels(endingOn: "2026-03-01", count: 3) == ["2026-02-27", "2026-02-28", "2026-03-01"])
        #expect(KeyStore.dayLabels(endingOn: "2028-03-01", count: 2) == ["2028-02-29", "2028-03-01"])
        #expect(KeyStore.dayLabels(endingOn: "2027-01-01", count: 2) == ["2026-12-31", "2027-01-01"])
        #expect(KeyStore.dayLabels(endingOn: "2026-12-03", count: 14).count == 14)
        #expect(KeyStore.dayLabels(endingOn: "2026-12-03", count: 1) == ["2026-12-03"])
    }
}
