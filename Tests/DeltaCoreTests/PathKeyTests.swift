import DeltaCore
import Testing

/// `PathKey` orders and compares by UTF-8 bytes, as SQLite's `BINARY` collation and ext4 do:
/// never by Swift's canonical `String` comparison, and the same for short (inline) and long
/// strings.
@Suite struct PathKeyTests {
    static let samples: [String] = [
        "", "a", "A", "Z", "z", "a/b", "a-b", "a.b", "a/", "ab", "abc", "a\u{7f}", "b",
        "\u{e9}", "e\u{301}", "e", "f", "\u{1F600}", "\u{FFFD}", "文件", "ü/ä",
        "exactly15bytes!", "exactly16bytes!!", "a much longer path/that/is/not/a/small/string.swift",
        "a much longer path/that/is/not/a/small/string.swifu", "a much longer path/that/is/not/a/small/string",
        String(repeating: "x", count: 300), String(repeating: "x", count: 299) + "y",
    ]

    static func byteOrder(_ lhs: String, _ rhs: String) -> Bool {
        Array(lhs.utf8).lexicographicallyPrecedes(Array(rhs.utf8))
    }

    @Test func ordersByBytesForEveryPair() {
        for lhs in Self.samples {
            for rhs in Self.samples {
                #expect(
                    (PathKey(lhs) < PathKey(rhs)) == Self.byteOrder(lhs, rhs),
                    "\(Array(lhs.utf8)) < \(Array(rhs.utf8))")
                #expect((PathKey(lhs) == PathKey(rhs)) == (Array(lhs.utf8) == Array(rhs.utf8)))
            }
        }
    }

    @Test func canonicallyEqualStringsAreDistinctKeys() {
        // Equal to Swift, different bytes: distinct keys, in byte order (0x65 < 0xC3).
        #expect("\u{e9}" == "e\u{301}")
        #expect(PathKey("\u{e9}") != PathKey("e\u{301}"))
        #expect(PathKey("e\u{301}") < PathKey("\u{e9}"))
        #expect(Set([PathKey("\u{e9}"), PathKey("e\u{301}")]).count == 2)
    }

    @Test func sortingMatchesByteOrderOnRandomPaths() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [String] = ["a", "b", "/", ".", "-", "Z", "é", "e\u{301}", "文", "0"]
        let paths = (0..<2_000).map { _ in
            (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
                .joined()
        }
        let sorted = paths.map(PathKey.init).sorted().map(\.string)
        #expect(
            sorted.map { Array($0.utf8) } == paths.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
    }
}
