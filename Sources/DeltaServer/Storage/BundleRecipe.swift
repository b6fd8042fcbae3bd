import Crypto
import DeltaCore
import Glibc

/// How an uncompressed bundle is kept: its own bytes, except that each file's content is named
/// by the blob that holds it. A first push of 100,000 files then writes each file's bytes to
/// disk once (its blob) instead of twice (its blob and the stored bundle), and the server keeps
/// about the workspace's size, not twice it. `GET /api/v1/delta/bundles/{sequence}` serves the
/// bundle byte for byte from its recipe (`Reader`); its SHA-256 is the one recorded at upload.
///
/// A compressed bundle is kept whole: its bytes do not contain the files' bytes.
///
/// The file is `magic`, then records up to its end: a tag byte, a big-endian 64-bit length, and
/// then for `literal` that many bytes of the bundle, for `blob` the 64 hex digits of the
/// SHA-256 of the blob whose bytes (that many) come next in the bundle, for `zeros` nothing:
/// that many zero bytes come next. What is left of a tar once its files' bytes are taken out is
/// mostly zeros (each 512-byte header is about three quarters zeros, and each file is padded to
/// 512 bytes): a synthetic-100k first push kept 117.6 MB of recipes as literals, about half of
/// which are runs of `zeroRunMinimum` zeros or more.
///
/// Version 1 (`magicVersion1`, servers before zero records) is read as well; it has no `zeros`.
enum BundleRecipe {
    static let magic: [UInt8] = Array("DELTASYNC BUNDLE RECIPE 2\n".utf8)
    static let magicVersion1: [UInt8] = Array("DELTASYNC BUNDLE RECIPE 1\n".utf8)
    static let literal: UInt8 = UInt8(ascii: "L")
    static let blob: UInt8 = UInt8(ascii: "B")
    static let zeros: UInt8 = UInt8(ascii: "Z")

    /// The shortest run of zeros kept as a `zeros` record: it ends a literal and starts another,
    /// 18 bytes of record headers in all.
    static let zeroRunMinimum = 32

    /// Appended to the bundle's SHA-256 to name its recipe, beside the blobs: no blob has such a
    /// name.
    static let suffix = ".recipe"

    /// Writes a recipe as its bundle streams through a `BundleStreamReader`: the reader's
    /// `literal` and `content` go to the methods of the same names, in order, then `finish()`,
    /// after which `identity` names the bundle.
    final class Builder: @unchecked Sendable {
        let path: String
        private let file: RawFile
        private var buffer: [UInt8] = BundleRecipe.magic
        /// Literal bytes not yet written as a record.
        private var pending: [UInt8] = []
        private var identityHasher = Identity()
        /// The bundle's identity (`Identity`), once `finish()` has run.
        private(set) var identity = ""

        /// Creates the recipe file at `path` (which must not exist).
        init(path: String) throws {
            self.path = path
            file = try RawFile.create(path, mode: 0o600, exclusive: true)
            buffer.reserveCapacity(BundleRecipe.bufferSize + 64 * 1024)
        }

        func literal(_ bytes: UnsafeRawBufferPointer) throws {
            identityHasher.literal(bytes)
            pending.append(contentsOf: bytes)
            if pending.count >= BundleRecipe.bufferSize { try writePending() }
        }

        func content(_ range: BundleContentRange) throws {
            identityHasher.content(size: range.size, sha256: range.sha256)
            try writePending()
            BundleRecipe.append(tag: BundleRecipe.blob, length: range.size, to: &buffer)
            buffer.append(contentsOf: range.sha256.utf8)
            try drain(force: false)
        }

        func finish() throws {
            try writePending()
            try drain(force: true)
            identity = identityHasher.finalize()
        }

        private func writePending() throws {
            guard !pending.isEmpty else { return }
            pending.withUnsafeBytes { BundleRecipe.appendLiteral($0, to: &buffer) }
            pending.removeAll(keepingCapacity: true)
            try drain(force: false)
        }

        private func drain(force: Bool) throws {
            guard force || buffer.count >= BundleRecipe.bufferSize else { return }
            try file.write(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    private static let bufferSize = 1 << 20

    /// What names an uncompressed bundle (its `bundle_sha256` in the change log, its recipe in
    /// the blob store, and what tells a bundle sent again from another under the same id): the
    /// SHA-256 of its bytes in canonical pieces — for each run of bytes between files' content,
    /// `L`, the run's length (big-endian, 64 bits) and the run's SHA-256; for each file's
    /// content, `C`, its length and its SHA-256 (hex, as the blob is named). The bytes are
    /// determined by it as by the bundle's own SHA-256, but a file's bytes are hashed once (for
    /// its blob) instead of twice: in a first push of synthetic-100k, 704 MB of the 820 MB
    /// uploaded. The pieces do not depend on how the body arrived in chunks (where the recipe's
    /// own records fall may).
    ///
    /// Servers before it named an uncompressed bundle by the SHA-256 of its bytes: a bundle sent
    /// again whose identity differs from the one logged is checked against that too
    /// (`bodySHA256`) before it is called a conflict.
    struct Identity {
        private var outer = SHA256()
        private var run = SHA256()
        private var runLength: Int64 = 0

        mutating func literal(_ bytes: UnsafeRawBufferPointer) {
            guard !bytes.isEmpty else { return }
            run.update(bufferPointer: bytes)
            runLength += Int64(bytes.count)
        }

        mutating func content(size: Int64, sha256: String) {
            endRun()
            piece(tag: UInt8(ascii: "C"), length: size, hex: sha256)
        }

        mutating func finalize() -> String {
            endRun()
            return outer.finalize().hexString
        }

        private mutating func endRun() {
            guard runLength > 0 else { return }
            piece(tag: UInt8(ascii: "L"), length: runLength, hex: run.finalize().hexString)
            run = SHA256()
            runLength = 0
        }

        /// Hashes one piece without building arrays (two pieces a file in a first push).
        private mutating func piece(tag: UInt8, length: Int64, hex: String) {
            var tag = tag
            withUnsafeBytes(of: &tag) { outer.update(bufferPointer: $0) }
            withUnsafeBytes(of: UInt64(length).bigEndian) { outer.update(bufferPointer: $0) }
            var hex = hex
            hex.withUTF8 { outer.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        }
    }

    /// The SHA-256 of the bundle a stored recipe makes (what servers before `Identity` named it
    /// by), reading it back through the blob store.
    static func bodySHA256(recipe path: String, blobs: BlobStore) throws -> String {
        let reader = try Reader(path: path, blobs: blobs)
        var hasher = SHA256()
        while let chunk = try reader.nextChunk() { hasher.update(data: chunk) }
        return hasher.finalize().hexString
    }

    /// Appends `bytes` as records: each run of at least `zeroRunMinimum` zeros as `zeros`, what
    /// lies between as `literal`.
    static func appendLiteral(_ bytes: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        let count = bytes.count
        var literalStart = 0
        func appendLiteral(upTo end: Int) {
            guard end > literalStart else { return }
            append(tag: literal, length: Int64(end - literalStart), to: &buffer)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[literalStart..<end]))
        }
        var index = 0
        while index < count {
            guard bytes[index] == 0 else {
                index += 1
                continue
            }
            var end = index + 1
            while end + 8 <= count && bytes.loadUnaligned(fromByteOffset: end, as: UInt64.self) == 0 { end += 8 }
            while end < count && bytes[end] == 0 { end += 1 }
            if end - index >= zeroRunMinimum {
                appendLiteral(upTo: index)
                append(tag: zeros, length: Int64(end - index), to: &buffer)
                literalStart = end
            }
            index = end
        }
        appendLiteral(upTo: count)
    }

    private static func append(tag: UInt8, length: Int64, to buffer: inout [UInt8]) {
        buffer.append(tag)
        withUnsafeBytes(of: UInt64(length).bigEndian) { buffer.append(contentsOf: $0) }
    }

    /// Produces a stored bundle's bytes from its recipe, in chunks of about `chunkSize` (each read
    /// on the blocking pool in one call). One caller at a time (the route's writer loop).
    final class Reader: @unchecked Sendable {
        static let chunkSize = 1 << 20

        private let recipe: RawFile
        private let recipePath: String
        private let blobs: BlobStore
        private var pending: [UInt8] = []
        private var pendingStart = 0
        private var atEnd = false
        /// Where the bytes of the record being produced come from.
        private enum Source {
            case literal
            case zeros
            case blob(RawFile)
        }
        /// The record being produced, and its bytes left.
        private var current: (source: Source, remaining: Int64)?
        private var buffer: [UInt8] = []
        /// Whether the recipe may hold `zeros` records.
        private var version2 = false

        init(path: String, blobs: BlobStore) throws {
            recipe = try RawFile.open(reading: path)
            recipePath = path
            self.blobs = blobs
            let head = try take(BundleRecipe.magic.count)
            guard head == BundleRecipe.magic || head == BundleRecipe.magicVersion1 else {
                throw Self.damaged(path)
            }
            version2 = head == BundleRecipe.magic
        }

        /// The next chunk of the bundle, or nil after its last byte.
        func nextChunk() throws -> [UInt8]? {
            buffer.removeAll(keepingCapacity: true)
            while buffer.count < Self.chunkSize {
                if let (source, remaining) = current {
                    let count = Int(min(remaining, Int64(Self.chunkSize - buffer.count)))
                    switch source {
                    case .blob(let file):
                        let start = buffer.count
                        buffer.append(contentsOf: repeatElement(0, count: count))
                        let read = try buffer.withUnsafeMutableBytes { raw in
                            try BlobArchive.readFully(
                                file, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
                        }
                        guard read == count else {
                            throw DeltaError(.io, "a blob of a stored bundle is shorter than the bundle says")
                        }
                    case .zeros:
                        buffer.append(contentsOf: repeatElement(0, count: count))
                    case .literal:
                        buffer.append(contentsOf: try take(count))
                    }
                    current = remaining == Int64(count) ? nil : (source, remaining - Int64(count))
                    continue
                }
                let tag = try take(1, orEnd: true)
                guard let tag = tag.first else { break }
                let lengthBytes = try take(8)
                let length = lengthBytes.reduce(Int64(0)) { ($0 << 8) | Int64($1) }
                guard length >= 0 else {
                    throw Self.damaged(recipePath)
                }
                switch tag {
                case BundleRecipe.literal:
                    current = (.literal, length)
                case BundleRecipe.zeros where version2:
                    current = (.zeros, length)
                case BundleRecipe.blob:
                    let sha256 = String(decoding: try take(64), as: UTF8.self)
                    let file = try RawFile.open(reading: blobs.path(for: sha256))
                    current = (.blob(file), length)
                default:
                    throw Self.damaged(recipePath)
                }
                if length == 0 { current = nil }
            }
            return buffer.isEmpty ? nil : buffer
        }

        /// The error for a recipe that is not one.
        static func damaged(_ path: String) -> DeltaError {
            DeltaError(.io, "the stored bundle's recipe is damaged (\(path))")
        }

        /// The next `count` bytes of the recipe file (an empty array at its end when `orEnd`).
        private func take(_ count: Int, orEnd: Bool = false) throws -> [UInt8] {
            while pending.count - pendingStart < count && !atEnd {
                if pendingStart > 0 {
                    pending.removeFirst(pendingStart)
                    pendingStart = 0
                }
                let start = pending.count
                pending.append(contentsOf: repeatElement(0, count: Self.chunkSize))
                let read = try pending.withUnsafeMutableBytes { raw in
                    try recipe.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
                }
                pending.removeLast(Self.chunkSize - read)
                if read == 0 { atEnd = true }
            }
            if pending.count - pendingStart < count {
                if orEnd && pending.count == pendingStart { return [] }
                throw Self.damaged(recipePath)
            }
            defer { pendingStart += count }
            return Array(pending[pendingStart..<(pendingStart + count)])
        }
    }
}
