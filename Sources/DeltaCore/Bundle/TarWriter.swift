/// Writes a POSIX ustar stream, with PAX extended headers for names that do not fit ustar's
/// `prefix/name` fields and for sizes beyond its 8 GiB octal field.
public struct TarWriter {
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private static let zeros = [UInt8](repeating: 0, count: TarHeader.blockSize * 2)

    public init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.sink = sink
    }

    /// Writes a header for a regular file of `size` bytes; the caller then writes exactly `size`
    /// bytes with `writeData` and calls `finishEntry(size:)`.
    public func beginFile(name: String, size: Int64, mode: UInt32 = 0o644, mtime: Int64 = 0) throws {
        try writeHeader(name: Array(name.utf8), size: size, mode: mode, mtime: mtime, type: UInt8(ascii: "0"))
    }

    public func beginDirectory(name: String, mode: UInt32 = 0o755, mtime: Int64 = 0) throws {
        var bytes = Array(name.utf8)
        if bytes.last != UInt8(ascii: "/") { bytes.append(UInt8(ascii: "/")) }
        try writeHeader(name: bytes, size: 0, mode: mode, mtime: mtime, type: UInt8(ascii: "5"))
    }

    public func writeData(_ bytes: UnsafeRawBufferPointer) throws { try sink(bytes) }

    /// Pads the entry's data to a block boundary.
    public func finishEntry(size: Int64) throws {
        let padding = Int((Int64(TarHeader.blockSize) - size % Int64(TarHeader.blockSize)) % Int64(TarHeader.blockSize))
        if padding > 0 {
            try Self.zeros.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<padding])) }
        }
    }

    /// A whole small file in one call.
    public func addFile(name: String, bytes: [UInt8], mode: UInt32 = 0o644, mtime: Int64 = 0) throws {
        try beginFile(name: name, size: Int64(bytes.count), mode: mode, mtime: mtime)
        try bytes.withUnsafeBytes { try writeData($0) }
        try finishEntry(size: Int64(bytes.count))
    }

    /// Any entry with raw name bytes and type flag (`"0"` file, `"2"` symlink, `"5"` directory …).
    /// Exists so tests can write archives our writer would never produce.
    public func addEntry(name: [UInt8], type: UInt8, bytes: [UInt8] = [], mode: UInt32 = 0o644) throws {
        try writeHeader(name: name, size: Int64(bytes.count), mode: mode, mtime: 0, type: type)
        try bytes.withUnsafeBytes { try writeData($0) }
        try finishEntry(size: Int64(bytes.count))
    }

    /// The end-of-archive marker: two zero blocks.
    public func finish() throws {
        try Self.zeros.withUnsafeBytes { try sink($0) }
    }

    // MARK: - Headers

    private func writeHeader(name: [UInt8], size: Int64, mode: UInt32, mtime: Int64, type: UInt8) throws {
        let split = Self.splitUstarName(name)
        let octalSizeFits = size < 0o77777777777
        if split == nil || !octalSizeFits {
            var records: [UInt8] = []
            if split == nil { records += Self.paxRecord(key: "path", value: name) }
            if !octalSizeFits { records += Self.paxRecord(key: "size", value: Array(String(size).utf8)) }
            let paxName = Array("PaxHeaders/".utf8) + Array(name.suffix(80))
            try emitBlock(
                name: Array(paxName.prefix(100)), prefix: [], size: Int64(records.count), mode: 0o644, mtime: mtime,
                type: UInt8(ascii: "x")
            )
            try records.withUnsafeBytes { try sink($0) }
            try finishEntry(size: Int64(records.count))
        }
        let (prefix, short) = split ?? ([], Array(name.suffix(99)))
        try emitBlock(name: short, prefix: prefix, size: octalSizeFits ? size : 0, mode: mode, mtime: mtime, type: type)
    }

    private func emitBlock(name: [UInt8], prefix: [UInt8], size: Int64, mode: UInt32, mtime: Int64, type: UInt8) throws
    {
        try Self.header(name: name, prefix: prefix, size: size, mode: mode, mtime: mtime, type: type).withUnsafeBytes {
            try sink($0)
        }
    }

    /// One ustar header block. Numbers are written straight into the block, zero-padded octal
    /// (formatting them through strings, a few arrays a header, was 4 % of the client's CPU in a
    /// first push); a number too wide for its field, which no caller passes, would be written
    /// whole as before, over the field after it.
    static func header(name: [UInt8], prefix: [UInt8], size: Int64, mode: UInt32, mtime: Int64, type: UInt8)
        -> [UInt8]
    {
        var block = [UInt8](repeating: 0, count: TarHeader.blockSize)
        block.withUnsafeMutableBufferPointer { block in
            func put(_ bytes: some Collection<UInt8>, _ offset: Int) {
                var index = offset
                for byte in bytes {
                    block[index] = byte
                    index += 1
                }
            }
            // At least `width - 1` digits, as `String(value, radix: 8)` left-padded with zeros.
            func octal(_ value: Int64, _ offset: Int, _ width: Int) {
                guard value >= 0, value >> (3 * Int64(width - 1)) == 0 else {
                    var digits = Array(String(value, radix: 8).utf8)
                    while digits.count < width - 1 { digits.insert(UInt8(ascii: "0"), at: 0) }
                    put(digits, offset)
                    return
                }
                var rest = value
                for index in stride(from: offset + width - 2, through: offset, by: -1) {
                    block[index] = UInt8(ascii: "0") + UInt8(rest & 7)
                    rest >>= 3
                }
            }
            put(name, 0)
            octal(Int64(mode & 0o7777), 100, 8)
            octal(0, 108, 8)
            octal(0, 116, 8)
            octal(size, 124, 12)
            octal(max(0, mtime), 136, 12)
            block[156] = type
            put("ustar".utf8, 257)
            put("00".utf8, 263)
            put(prefix, 345)
            for index in 148..<156 { block[index] = UInt8(ascii: " ") }
            var sum: Int64 = 0
            for byte in block { sum += Int64(byte) }
            // At most 512 × 255 = 0o377000: six digits, then NUL and a space.
            octal(sum, 148, 7)
            block[154] = 0
            block[155] = UInt8(ascii: " ")
        }
        return block
    }

    /// Splits a name into ustar `prefix` (≤155) and `name` (≤100) at a `/`, or nil if impossible.
    static func splitUstarName(_ name: [UInt8]) -> ([UInt8], [UInt8])? {
        if name.count <= 100 { return ([], name) }
        guard name.count <= 256 else { return nil }
        for index in stride(from: min(155, name.count - 1), through: 1, by: -1) where name[index] == UInt8(ascii: "/") {
            let prefix = Array(name[..<index])
            let rest = Array(name[(index + 1)...])
            if rest.count <= 100 && !rest.isEmpty { return (prefix, rest) }
            return nil
        }
        return nil
    }

    /// `"<len> key=value\n"` where len counts itself.
    static func paxRecord(key: String, value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [UInt8(ascii: "\n")]
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length = String(length).utf8.count + body.count }
        return Array(String(length).utf8) + body
    }
}
