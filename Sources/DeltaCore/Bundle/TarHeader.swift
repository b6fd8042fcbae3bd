/// A decoded 512-byte tar header (ustar, with GNU and PAX extensions resolved by `TarReader`).
public struct TarHeader: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case regular
        case directory
        case paxExtended
        case paxGlobal
        case gnuLongName
        case gnuLongLink
        case symlink
        case hardlink
        case device
        case fifo
        case other(UInt8)
    }

    /// Raw name bytes (ustar `prefix/name`).
    public var name: [UInt8]
    public var mode: UInt32
    public var size: Int64
    public var kind: Kind

    public static let blockSize = 512

    /// Parses one header block. Returns `nil` for an all-zero block (end of archive).
    static func parse(_ block: UnsafeRawBufferPointer) throws -> TarHeader? {
        precondition(block.count == blockSize)
        if block.allSatisfy({ $0 == 0 }) { return nil }
        // Checksum: sum of all bytes with the checksum field read as spaces.
        var sum: Int64 = 0
        for index in 0..<blockSize {
            sum += (148..<156).contains(index) ? 32 : Int64(block[index])
        }
        guard let stored = parseOctal(block, 148, 8), stored == sum else {
            throw DeltaError(.invalidTar, "bundle is not a valid tar archive (bad header checksum)")
        }
        let name = field(block, 0, 100)
        let magic = Array(block[257..<262])
        var fullName = name
        if magic == Array("ustar".utf8) {
            let prefix = field(block, 345, 155)
            if !prefix.isEmpty { fullName = prefix + [UInt8(ascii: "/")] + name }
        }
        guard let size = parseNumeric(block, 124, 12), size >= 0 else {
            throw DeltaError(.invalidTar, "bundle is not a valid tar archive (bad size field)")
        }
        let mode = UInt32(truncatingIfNeeded: parseOctal(block, 100, 8) ?? 0o644)
        let kind: Kind
        switch block[156] {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .regular
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "x"): kind = .paxExtended
        case UInt8(ascii: "g"): kind = .paxGlobal
        case UInt8(ascii: "L"): kind = .gnuLongName
        case UInt8(ascii: "K"): kind = .gnuLongLink
        case UInt8(ascii: "1"): kind = .hardlink
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "3"), UInt8(ascii: "4"): kind = .device
        case UInt8(ascii: "6"): kind = .fifo
        case let other: kind = .other(other)
        }
        return TarHeader(name: fullName, mode: mode, size: size, kind: kind)
    }

    /// A NUL-terminated field.
    static func field(_ block: UnsafeRawBufferPointer, _ offset: Int, _ length: Int) -> [UInt8] {
        var out = [UInt8]()
        for index in offset..<(offset + length) {
            let byte = block[index]
            if byte == 0 { break }
            out.append(byte)
        }
        return out
    }

    static func parseOctal(_ block: UnsafeRawBufferPointer, _ offset: Int, _ length: Int) -> Int64? {
        var value: Int64 = 0
        var sawDigit = false
        for index in offset..<(offset + length) {
            let byte = block[index]
            if byte == 0 || byte == UInt8(ascii: " ") {
                if sawDigit { break } else { continue }
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) else { return nil }
            sawDigit = true
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 8)
            if overflow { return nil }
            value = shifted + Int64(byte - UInt8(ascii: "0"))
        }
        return sawDigit ? value : 0
    }

    /// Octal, or GNU base-256 (high bit of the first byte set) for large values.
    static func parseNumeric(_ block: UnsafeRawBufferPointer, _ offset: Int, _ length: Int) -> Int64? {
        let first = block[offset]
        guard first & 0x80 != 0 else { return parseOctal(block, offset, length) }
        if first & 0x40 != 0 { return nil }  // negative
        var value = Int64(first & 0x3f)
        for index in (offset + 1)..<(offset + length) {
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 256)
            if overflow { return nil }
            value = shifted | Int64(block[index])
        }
        return value
    }
}
