@testable import DeltaCore
import DeltaTestSupport
import Testing

/// `TarWriter.header` writes its numbers straight into the block: every byte must be what the
/// string-formatting writer before it produced (kept here as the reference), and what
/// `TarHeader.parse` reads back.
@Suite struct TarHeaderWriterTests {
    /// The writer as it was: numbers through `String(_:radix:)`, zero-padded by insertion.
    static func reference(name: [UInt8], prefix: [UInt8], size: Int64, mode: UInt32, mtime: Int64, type: UInt8)
        -> [UInt8]
    {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], _ offset: Int) {
            for (index, byte) in bytes.enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int64, _ offset: Int, _ width: Int) {
            var digits = Array(String(value, radix: 8).utf8)
            while digits.count < width - 1 { digits.insert(UInt8(ascii: "0"), at: 0) }
            put(digits, offset)
        }
        put(name, 0)
        octal(Int64(mode & 0o7777), 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(size, 124, 12)
        octal(max(0, mtime), 136, 12)
        block[156] = type
        put(Array("ustar".utf8) + [0], 257)
        put(Array("00".utf8), 263)
        put(prefix, 345)
        for index in 148..<156 { block[index] = UInt8(ascii: " ") }
        let sum = block.reduce(0) { $0 + Int64($1) }
        var checksum = Array(String(sum, radix: 8).utf8)
        while checksum.count < 6 { checksum.insert(UInt8(ascii: "0"), at: 0) }
        put(checksum + [0, UInt8(ascii: " ")], 148)
        return block
    }

    @Test func everyByteIsTheReferencesAndReadsBack() throws {
        let longName = Array(String(repeating: "n", count: 100).utf8)
        let highBytes = [UInt8](repeating: 0xff, count: 100)
        let names: [[UInt8]] = [[], Array("a".utf8), Array("files/created/src/main.swift".utf8), longName, highBytes]
        let prefixes: [[UInt8]] = [[], Array("deep/prefix".utf8), [UInt8](repeating: 0xfe, count: 155)]
        let sizes: [Int64] = [0, 1, 511, 512, 0o7777_7777_777, 1 << 32, 704 << 20, 1 << 40]
        let modes: [UInt32] = [0, 0o644, 0o755, 0o7777, 0o100755, UInt32.max]
        let mtimes: [Int64] = [-5, 0, 1, 1_764_900_000, 0o7777_7777_777]
        var random = SplitMix64(seed: 36)
        var count = 0
        for name in names {
            for prefix in prefixes {
                for size in sizes {
                    let mode = modes[Int(random.next() % UInt64(modes.count))]
                    let mtime = mtimes[Int(random.next() % UInt64(mtimes.count))]
                    let type: UInt8 = random.next() % 2 == 0 ? UInt8(ascii: "0") : UInt8(ascii: "5")
                    let written = TarWriter.header(
                        name: name, prefix: prefix, size: size, mode: mode, mtime: mtime, type: type)
                    let expected = Self.reference(
                        name: name, prefix: prefix, size: size, mode: mode, mtime: mtime, type: type)
                    #expect(written == expected, "name \(name.count) prefix \(prefix.count) size \(size) mode \(mode) mtime \(mtime)")
                    count += 1
                }
            }
        }
        #expect(count == names.count * prefixes.count * sizes.count)

        // And the parser reads the numbers back.
        let block = TarWriter.header(
            name: Array("a/b.txt".utf8), prefix: [], size: 704 << 20, mode: 0o755, mtime: 1_764_900_000,
            type: UInt8(ascii: "0"))
        let header = try #require(try block.withUnsafeBytes { try TarHeader.parse($0) })
        #expect(header.size == 704 << 20)
        #expect(header.mode == 0o755)
    }
}
