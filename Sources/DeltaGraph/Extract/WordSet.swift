/// A small set of ASCII keywords for membership tests on token bytes without building
/// strings: a bitmask of lengths and of first bytes rejects most identifiers before any
/// comparison.
struct WordSet: Sendable {
    private let words: [[UInt8]]
    private let lengths: UInt64
    private let firstBytes: (UInt64, UInt64)

    init(_ list: [StaticString]) {
        var words: [[UInt8]] = []
        var lengths: UInt64 = 0
        var low: UInt64 = 0
        var high: UInt64 = 0
        for word in list {
            let bytes = Array(UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
            guard let first = bytes.first, bytes.count < 64, first < 128 else { continue }
            words.append(bytes)
            lengths |= 1 << UInt64(bytes.count)
            if first < 64 { low |= 1 << UInt64(first) } else { high |= 1 << UInt64(first - 64) }
        }
        self.words = words
        self.lengths = lengths
        self.firstBytes = (low, high)
    }

    func contains(_ bytes: UnsafeBufferPointer<UInt8>, start: Int, end: Int) -> Bool {
        let length = end - start
        guard length > 0, length < 64, lengths & (1 << UInt64(length)) != 0 else { return false }
        let first = bytes[start]
        guard first < 128 else { return false }
        let bit: UInt64 = first < 64 ? firstBytes.0 >> UInt64(first) : firstBytes.1 >> UInt64(first - 64)
        guard bit & 1 != 0 else { return false }
        for word in words where word.count == length && word[0] == first {
            var equal = true
            for offset in 1..<length where bytes[start + offset] != word[offset] {
                equal = false
                break
            }
            if equal { return true }
        }
        return false
    }
}
