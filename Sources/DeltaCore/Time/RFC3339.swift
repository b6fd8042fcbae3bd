public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// RFC 3339 UTC timestamps, written as `ISO8601DateFormatter` writes them
/// (`2026-12-01T12:00:00Z`, or `2026-12-01T12:00:00.250Z` with milliseconds), without creating a
/// formatter: each new `ISO8601DateFormatter` reads time-zone files (several milliseconds of a
/// save's way to the server under strace), and a bundle and its outbox entry each take a timestamp.
public enum RFC3339 {
    /// `date` in UTC; fractional seconds are truncated to milliseconds, as the formatter does.
    public static func string(_ date: Date = Date(), milliseconds: Bool = false) -> String {
        let interval = date.timeIntervalSince1970
        let whole = interval.rounded(.down)
        var seconds = time_t(whole)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func append(_ value: Int, digits: Int) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        append(Int(parts.tm_year) + 1900, digits: 4)
        bytes.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mon) + 1, digits: 2)
        bytes.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mday), digits: 2)
        bytes.append(UInt8(ascii: "T"))
        append(Int(parts.tm_hour), digits: 2)
        bytes.append(UInt8(ascii: ":"))
        append(Int(parts.tm_min), digits: 2)
        bytes.append(UInt8(ascii: ":"))
        append(Int(parts.tm_sec), digits: 2)
        if milliseconds {
            bytes.append(UInt8(ascii: "."))
            append(min(999, Int((interval - whole) * 1000)), digits: 3)
        }
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
