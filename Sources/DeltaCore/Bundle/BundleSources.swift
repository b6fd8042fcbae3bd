#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An uncompressed tar bundle kept as the list of where its bytes come from, instead of a copy:
/// the tar's own bytes (headers, the metadata documents, padding) literally, and each file's
/// content by its path, size and what it was hashed as. The client's outbox keeps a large bundle
/// this way, so a first push does not write every byte of the workspace a second time, to a disk
/// the server's flush then has to write out as well.
///
/// ``BundleSourceStream`` makes the bundle's bytes again, the same ones each time while the files
/// are unchanged (a replay after a crash is then idempotent), and throws `CHANGED_WHILE_BUNDLING`
/// before the last byte of a file that changed, so the receiver never gets a whole bundle with
/// content other than the one recorded.
///
/// Layout (little-endian): a 32-byte header — the magic `DSBSRC01`, the bundle's size, the list's
/// own size and the number of segments — then the segments: `1` literal bytes (`u32` count and
/// the bytes), `2` zeros (`u32` count), `3` a file (`u64` size, `u32` path length, the path, a
/// flags byte, then the SHA-256 in hex (64 bytes) when flag 1 is set and the stat fingerprint when flag 2 is).
public enum BundleSources {
    /// The suffix of a bundle kept as a source list.
    public static let fileExtension = ".tar.sources"

    static let magic: [UInt8] = Array("DSBSRC01".utf8)
    static let headerSize = 32

    enum Kind: UInt8 {
        case bytes = 1
        case zeros = 2
        case file = 3
    }

    struct Flags: OptionSet {
        let rawValue: UInt8
        static let sha256 = Flags(rawValue: 1)
        static let fingerprint = Flags(rawValue: 2)
    }

    /// Whether `path` is a whole source list for a bundle of `bundleSize` bytes: its header is
    /// there and names that size and the list's own size on disk. A power loss before the
    /// list's fsync can leave it gone or short.
    public static func isIntact(_ path: String, bundleSize: Int64) -> Bool {
        self.bundleSize(ofListAt: path) == bundleSize
    }

    /// The size of the bundle the list at `path` makes, from its header; nil when the list is
    /// missing, not a source list, or not whole.
    public static func bundleSize(ofListAt path: String) -> Int64? {
        guard let file = try? RawFile.open(reading: path), let size = try? file.size() else { return nil }
        var header = [UInt8](repeating: 0, count: headerSize)
        guard let count = try? header.withUnsafeMutableBytes({ try file.read(into: $0) }), count == headerSize,
            Array(header[0..<8]) == magic, Int64(littleEndian: header, at: 16) == size
        else { return nil }
        return Int64(littleEndian: header, at: 8)
    }

    /// Builds a source list from the tar stream's pieces, in order.
    struct Recorder {
        private(set) var list: [UInt8] = []
        private(set) var bundleSize: Int64 = 0
        private var segments: Int64 = 0
        private var literal: [UInt8] = []

        init() {
            list = [UInt8](repeating: 0, count: BundleSources.headerSize)
        }

        /// Bytes of the tar itself; runs of zeros (padding, the end marker) are kept as counts.
        mutating func bytes(_ chunk: UnsafeRawBufferPointer) {
            bundleSize += Int64(chunk.count)
            if chunk.count >= 16, chunk.allSatisfy({ $0 == 0 }) {
                flushLiteral()
                append(Kind.zeros.rawValue)
                append(UInt32(chunk.count))
                segments += 1
            } else {
                literal.append(contentsOf: chunk)
            }
        }

        mutating func file(path: String, size: Int64, sha256: String?, hashedAs: StatFingerprint?) {
            flushLiteral()
            bundleSize += size
            let name = Array(path.utf8)
            append(Kind.file.rawValue)
            append(UInt64(size))
            append(UInt32(name.count))
            list += name
            var flags = Flags()
            if sha256 != nil { flags.insert(.sha256) }
            if hashedAs != nil { flags.insert(.fingerprint) }
            append(flags.rawValue)
            if let sha256 { list += Array(sha256.utf8) }
            if let hashedAs {
                append(UInt64(bitPattern: hashedAs.size))
                append(UInt64(bitPattern: hashedAs.mtimeNanoseconds))
                append(UInt64(bitPattern: hashedAs.ctimeNanoseconds))
                append(hashedAs.inode)
                append(hashedAs.mode)
            }
            segments += 1
        }

        /// The finished list, its header filled in.
        mutating func finish() -> [UInt8] {
            flushLiteral()
            var header = BundleSources.magic
            header += Self.bytes(UInt64(bundleSize))
            header += Self.bytes(UInt64(list.count))
            header += Self.bytes(UInt64(segments))
            list.replaceSubrange(0..<BundleSources.headerSize, with: header)
            return list
        }

        private mutating func flushLiteral() {
            guard !literal.isEmpty else { return }
            append(Kind.bytes.rawValue)
            append(UInt32(literal.count))
            list += literal
            literal.removeAll(keepingCapacity: true)
            segments += 1
        }

        private mutating func append(_ byte: UInt8) { list.append(byte) }
        private mutating func append(_ value: UInt32) { list += Self.bytes(value) }
        private mutating func append(_ value: UInt64) { list += Self.bytes(value) }

        static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
            withUnsafeBytes(of: value.littleEndian) { Array($0) }
        }
    }
}

/// Makes a bundle's bytes from its source list (see ``BundleSources``), reading each file as it
/// goes and checking it is still what was recorded: its stat fingerprint unchanged when one was
/// recorded, otherwise its SHA-256 over the bytes read.
public final class BundleSourceStream {
    /// The bundle's size in bytes.
    public let bundleSize: Int64
    private let list: [UInt8]
    private let listPath: String
    private var offset = BundleSources.headerSize
    private var produced: Int64 = 0

    private enum Current {
        case none
        case bytes(start: Int, count: Int)
        case zeros(Int)
        case file(File)
    }

    private struct File {
        var path: String
        var input: RawFile
        var size: Int64
        var remaining: Int64
        var sha256: String?
        var hashedAs: StatFingerprint?
        var hasher: SHA256Hasher
    }

    private var current = Current.none
    /// The directory of the file read last: the next is usually in it.
    private let directory = ParentDirectory()

    /// Opens the list at `path`. Throws `INTERNAL_ERROR` naming the file when it is not a whole
    /// source list.
    public init(path: String) throws {
        let list = try FileSystem.readAll(path)
        guard list.count >= BundleSources.headerSize, Array(list[0..<8]) == BundleSources.magic,
            Int64(littleEndian: list, at: 16) == Int64(list.count)
        else {
            throw DeltaError(.internalError, "\(path) is not a whole bundle source list")
        }
        self.list = list
        listPath = path
        bundleSize = Int64(littleEndian: list, at: 8)
    }

    /// Fills `buffer` with the bundle's next bytes; 0 at its end. Throws `CHANGED_WHILE_BUNDLING`
    /// when a file is gone or no longer what was recorded, before any of its last bytes are
    /// returned.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            if case .none = current {
                guard try advance() else { break }
            }
            let room = buffer.count - filled
            switch current {
            case .none:
                continue
            case .bytes(let start, let count):
                let take = min(room, count)
                list.withUnsafeBytes { raw in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + take)]).copyMemory(
                        from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + take)]))
                }
                filled += take
                current = take == count ? .none : .bytes(start: start + take, count: count - take)
            case .zeros(let count):
                let take = min(room, count)
                UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + take)]).initializeMemory(
                    as: UInt8.self, repeating: 0)
                filled += take
                current = take == count ? .none : .zeros(count - take)
            case .file(var file):
                let want = Int(min(Int64(room), file.remaining))
                let target = UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + want)])
                let count = try file.input.read(into: target)
                if count == 0 {
                    throw DeltaError(.changedWhileBundling, "\(file.path) shrank since it was queued for upload")
                }
                if file.hashedAs == nil { file.hasher.update(UnsafeRawBufferPointer(rebasing: target[0..<count])) }
                file.remaining -= Int64(count)
                filled += count
                if file.remaining == 0 {
                    try Self.check(file)
                    current = .none
                } else {
                    current = .file(file)
                }
            }
        }
        produced += Int64(filled)
        if filled == 0, produced != bundleSize {
            throw DeltaError(
                .internalError, "\(listPath) made \(produced) bytes of a bundle recorded as \(bundleSize)")
        }
        return filled
    }

    /// A file read whole: still the one recorded?
    private static func check(_ file: File) throws {
        try BundleWriter.checkUnchanged(
            file.input, path: file.path, size: file.size, hashedAs: file.hashedAs, sha256: file.sha256,
            read: file.hasher, when: "since it was queued for upload")
    }

    /// Moves to the next segment; false at the end of the list.
    private func advance() throws -> Bool {
        guard offset < list.count else { return false }
        let kind = BundleSources.Kind(rawValue: list[offset])
        offset += 1
        switch kind {
        case .bytes:
            let count = Int(try u32())
            try need(count)
            current = .bytes(start: offset, count: count)
            offset += count
        case .zeros:
            current = .zeros(Int(try u32()))
        case .file:
            let size = Int64(bitPattern: try u64())
            let length = Int(try u32())
            try need(length + 1)
            let path = String(decoding: list[offset..<(offset + length)], as: UTF8.self)
            offset += length
            let flags = BundleSources.Flags(rawValue: list[offset])
            offset += 1
            var sha256: String?
            if flags.contains(.sha256) {
                try need(64)
                sha256 = String(decoding: list[offset..<(offset + 64)], as: UTF8.self)
                offset += 64
            }
            var hashedAs: StatFingerprint?
            if flags.contains(.fingerprint) {
                let size = Int64(bitPattern: try u64())
                let mtime = Int64(bitPattern: try u64())
                let ctime = Int64(bitPattern: try u64())
                let inode = try u64()
                let mode = try u32()
                hashedAs = StatFingerprint(
                    size: size, mtimeNanoseconds: mtime, ctimeNanoseconds: ctime, inode: inode, mode: mode)
            }
            // Not followed if it became a symlink, and not waited on if it became a FIFO.
            let fd = directory.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else {
                throw DeltaError(
                    .changedWhileBundling, "\(path) is gone or no longer a file since it was queued for upload")
            }
            let input = RawFile(adopting: fd, path: path)
            guard (try input.fingerprint().mode & UInt32(S_IFMT)) == UInt32(S_IFREG) else {
                throw DeltaError(
                    .changedWhileBundling, "\(path) is no longer a regular file since it was queued for upload")
            }
            let file = File(
                path: path, input: input, size: size, remaining: size, sha256: sha256, hashedAs: hashedAs,
                hasher: SHA256Hasher())
            if size == 0 {
                try Self.check(file)
                current = .none
            } else {
                current = .file(file)
            }
        case nil:
            throw DeltaError(.internalError, "\(listPath) has an unknown segment at byte \(offset - 1)")
        }
        return true
    }

    private func need(_ count: Int) throws {
        guard count >= 0, offset + count <= list.count else {
            throw DeltaError(.internalError, "\(listPath) ends inside a segment at byte \(offset)")
        }
    }

    private func u32() throws -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(truncatingIfNeeded: Int64(littleEndian: list, at: offset, width: 4))
    }

    private func u64() throws -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return UInt64(bitPattern: Int64(littleEndian: list, at: offset))
    }
}

extension Int64 {
    /// The little-endian integer of `width` bytes at `offset` of `bytes` (which must hold them).
    init(littleEndian bytes: [UInt8], at offset: Int, width: Int = 8) {
        var value: UInt64 = 0
        for index in (0..<width).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        self = Int64(bitPattern: value)
    }
}
