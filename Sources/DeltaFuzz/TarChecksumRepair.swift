/// Rewrites the header checksums of a plain tar fuzz input.
///
/// A mutation of any header field (type, size, name, mode) would otherwise fail the checksum and
/// never reach the code behind it. Headers are found as a reader finds them: header, data rounded
/// up to 512 bytes, next header. PAX `size` records are not followed, so after one the walk may
/// rewrite bytes 148..<156 of a data block instead; that is harmless (the result is still just an
/// input), and the reader's own checksum check stays reachable through gzip inputs.
enum TarChecksumRepair {
    static let blockSize = 512
    static let checksumRange = 148..<156

    static func repair(_ tar: inout [UInt8]) {
        var offset = 0
        while offset + blockSize <= tar.count {
            let block = offset..<(offset + blockSize)
            if tar[block].allSatisfy({ $0 == 0 }) {
                offset += blockSize
                continue
            }
            var sum = 0
            for index in block {
                sum += checksumRange.contains(index - offset) ? 32 : Int(tar[index])
            }
            let digits = Array(String(sum, radix: 8).utf8)
            let field = [UInt8](repeating: UInt8(ascii: "0"), count: max(0, 6 - digits.count)) + digits.suffix(6)
            tar.replaceSubrange((offset + 148)..<(offset + 156), with: field + [0, UInt8(ascii: " ")])
            let dataBlocks = carriesData(tar[offset + 156]) ? blocks(forSizeAt: offset + 124, in: tar) : 0
            guard dataBlocks < (tar.count - offset) / blockSize else { return }
            offset += (1 + dataBlocks) * blockSize
        }
    }

    /// Regular files and extension headers have data; other types have none whatever the size says.
    private static func carriesData(_ type: UInt8) -> Bool {
        switch type {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"), UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"),
            UInt8(ascii: "K"):
            return true
        default:
            return false
        }
    }

    /// Data blocks for the 12-byte size field at `start` (octal or base-256), capped at `Int.max / 2`.
    private static func blocks(forSizeAt start: Int, in tar: [UInt8]) -> Int {
        var size = 0
        let field = tar[start..<(start + 12)]
        let limit = Int.max / 2
        if let first = field.first, first & 0x80 != 0 {
            for byte in field.dropFirst() {
                guard size < limit >> 8 else { return limit / blockSize }
                size = size << 8 | Int(byte)
            }
        } else {
            for byte in field where byte != 0 && byte != UInt8(ascii: " ") {
                guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) else { break }
                guard size < limit >> 3 else { return limit / blockSize }
                size = size << 3 | Int(byte - UInt8(ascii: "0"))
            }
        }
        return (size + blockSize - 1) / blockSize
    }
}
