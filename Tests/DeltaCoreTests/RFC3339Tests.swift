import DeltaCore
import Foundation
import Testing

@Suite struct RFC3339Tests {
    /// Dates spread over 1970–2100, each a tenth of a millisecond past a whole millisecond (so
    /// truncation and rounding agree on the millisecond).
    static let dates: [Date] = {
        var generator = SystemRandomNumberGenerator()
        var dates = [Date(timeIntervalSince1970: 0.0001), Date(timeIntervalSince1970: 951_782_400.0001)]
        for _ in 0..<500 {
            let millisecond = Double(UInt64.random(in: 0..<4_102_444_800_000, using: &generator))
            dates.append(Date(timeIntervalSince1970: millisecond / 1000 + 0.0001))
        }
        return dates
    }()

    @Test func writesWhatTheFoundationFormatterWrites() {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        fractional.timeZone = TimeZone(identifier: "UTC")
        for date in Self.dates {
            #expect(RFC3339.string(date) == plain.string(from: date), "\(date.timeIntervalSince1970)")
            #expect(
                RFC3339.string(date, milliseconds: true) == fractional.string(from: date),
                "\(date.timeIntervalSince1970)")
        }
    }

    @Test func shape() {
        #expect(RFC3339.string(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.string(Date(timeIntervalSince1970: 1.25), milliseconds: true) == "1970-01-01T00:00:01.250Z")
        // The last millisecond of a second stays in that second.
        #expect(
            RFC3339.string(Date(timeIntervalSince1970: 59.9999), milliseconds: true) == "1970-01-01T00:00:59.999Z")
    }
}
