/// A point in time, to the second, written back in UTC: what every date the tool takes becomes.
///
/// It reads ISO 8601 as operators write it: `2026-12-31` (midnight UTC, never the machine's or
/// the session's time zone), `2026-12-31T18:00`, `2026-12-31 18:00:05.123`, with `Z`, `±HH:MM`
/// or no zone (UTC). `+02:00` is converted, so what is echoed and stored is the same instant in
/// UTC. Years 0001 to 9999 are dates; whether one is too early is for the caller to say.
public struct UTCTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    public let secondsSinceEpoch: Int64

    /// The time at `secondsSinceEpoch`.
    public init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }

    /// The time now, by this machine's clock.
    public static var now: UTCTime { UTCTime(secondsSinceEpoch: currentSecondsSinceEpoch()) }

    /// ISO 8601 in UTC, such as `2026-12-31T18:00:00Z`: the form every listing shows.
    public var description: String {
        let days = secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86_400 : (secondsSinceEpoch - 86_399) / 86_400
        let second = Int(secondsSinceEpoch - days * 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        return Self.digits(year, 4) + "-" + Self.digits(month, 2) + "-" + Self.digits(day, 2) + "T"
            + Self.digits(second / 3600, 2) + ":" + Self.digits(second / 60 % 60, 2) + ":"
            + Self.digits(second % 60, 2) + "Z"
    }

    /// Orders times by the instant they name.
    public static func < (lhs: UTCTime, rhs: UTCTime) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }

    /// The time `text` names, or `nil` when it is not one of the forms above.
    public init?(iso8601 text: String) {
        let characters = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= characters.count else { return nil }
            var value = 0
            for byte in characters[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        func at(_ index: Int, is character: Character) -> Bool {
            index < characters.count && characters[index] == character.asciiValue
        }
        guard let year = number(0..<4), at(4, is: "-"), let month = number(5..<7), at(7, is: "-"),
            let day = number(8..<10), (1...12).contains(month), (1...9999).contains(year),
            (1...Self.daysIn(month: month, of: year)).contains(day)
        else { return nil }
        var seconds = Self.days(fromCivil: year, month, day) * 86_400
        guard characters.count > 10 else {
            self.init(secondsSinceEpoch: seconds)
            return
        }
        guard at(10, is: "T") || at(10, is: "t") || at(10, is: " "), let hour = number(11..<13), at(13, is: ":"),
            let minute = number(14..<16), hour < 24, minute < 60
        else { return nil }
        var index = 16
        var second = 0
        if at(index, is: ":") {
            guard let value = number(17..<19), value < 60 else { return nil }
            second = value
            index = 19
            if at(index, is: ".") {
                index += 1
                let start = index
                while index < characters.count, (0x30...0x39).contains(characters[index]) { index += 1 }
                guard index > start else { return nil }
            }
        }
        seconds += Int64(hour * 3600 + minute * 60 + second)
        switch characters.count - index {
        case 0: break
        case 1 where at(index, is: "Z") || at(index, is: "z"): break
        case 3, 5, 6:
            // ISO 8601's three forms of an offset: +02, +0200 (basic) and +02:00 (extended).
            let length = characters.count - index
            let minuteStart = length == 6 ? index + 4 : index + 3
            guard at(index, is: "+") || at(index, is: "-"), length != 6 || at(index + 3, is: ":"),
                let hours = number(index + 1..<index + 3),
                let minutes = length == 3 ? 0 : number(minuteStart..<minuteStart + 2),
                hours <= 14, minutes < 60
            else { return nil }
            let offset = Int64(hours * 3600 + minutes * 60)
            // 18:00+02:00 is 16:00Z.
            seconds += at(index, is: "+") ? -offset : offset
        default: return nil
        }
        self.init(secondsSinceEpoch: seconds)
    }

    static func daysIn(month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a date in the proleptic Gregorian calendar (Howard Hinnant's
    /// days_from_civil).
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01 (civil_from_days).
    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        let month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
        return (Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0), month, day)
    }

    /// `value` in decimal, zero-padded to `width` digits.
    static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

extension UTCTime {
    /// The time an HTTP header names (`Retry-After`, `Date`): IMF-fixdate, `Sun, 06 Nov 1994
    /// 08:49:37 GMT`, the form RFC 9110 says senders use; `nil` for anything else.
    public init?(httpDate text: String) {
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" || parts[5] == "UTC",
            let day = Int(parts[1]), let monthIndex = months.firstIndex(of: parts[2].lowercased()),
            let year = Int(parts[3]), (1970...9999).contains(year),
            (1...Self.daysIn(month: monthIndex + 1, of: year)).contains(day)
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard clock.count == 3, let hour = clock[0], let minute = clock[1], let second = clock[2],
            (0..<24).contains(hour), (0..<60).contains(minute), (0..<61).contains(second)
        else { return nil }
        let days = Self.days(fromCivil: year, monthIndex + 1, day)
        self.init(secondsSinceEpoch: days * 86_400 + Int64(hour * 3600 + minute * 60 + second))
    }
}
