import Foundation

/// Reads and validates a delta bundle, a `.tar.gz` or an uncompressed tar (told apart by their
/// first bytes, `BundleFormat.detect`), streaming: a compressed bundle is inflated in chunks,
/// every limit is checked as bytes arrive (a bomb stops at the cap), and each file entry is
/// spooled to its own temporary file (an anonymous one where it can) while it is hashed with
/// SHA-1 and SHA-256.
///
/// Entries may come in any order (existing clients put `manifest.json` last), so operations are
/// matched to content once the whole archive has been read.
public struct BundleReader: Sendable {
    public var limits: BundleLimits
    /// Where spool files are created (the server uses `WORK_DIR/tmp`).
    public var temporaryDirectory: String
    /// Whether file content is spooled to anonymous files (`AnonymousSpool`) while they can be
    /// made; else, and past their limit, to named files in `temporaryDirectory`.
    public var anonymousSpools: Bool

    public init(limits: BundleLimits = BundleLimits(), temporaryDirectory: String, anonymousSpools: Bool = true) {
        self.limits = limits
        self.temporaryDirectory = temporaryDirectory
        self.anonymousSpools = anonymousSpools
    }

    /// Reads the bundle at `path`. On any error the spool files are already removed.
    /// - Parameter progress: receives the running count of uncompressed bytes (for metrics and the
    ///   free-space guard); an error it throws stops the read.
    public func read(path: String, progress: ((Int64) throws -> Void)? = nil) throws -> ValidatedBundle {
        var collector = EntryCollector(
            limits: limits, directory: temporaryDirectory, anonymous: anonymousSpools, progress: progress)
        do {
            let input = try RawFile.open(reading: path)
            let size = try input.size()
            if size > limits.maxCompressedBytes {
                throw DeltaError(
                    .bundleTooLarge, "bundle is \(size) bytes; the limit is \(limits.maxCompressedBytes) bytes",
                    details: ["limit_bytes": .int(limits.maxCompressedBytes)]
                )
            }
            var inflater: GzipInflater?
            var format: BundleFormat?
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                var count = try buffer.withUnsafeMutableBytes { raw in try input.read(into: raw) }
                if format == nil {
                    // The first read of a regular file is short only at its end; top it up so the
                    // tar magic at offset 257 is in view.
                    while count > 0 && count < TarHeader.blockSize {
                        let more = try buffer.withUnsafeMutableBytes { raw in
                            try input.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[count...]))
                        }
                        if more == 0 { break }
                        count += more
                    }
                    let detected = try buffer.withUnsafeBytes { raw in
                        try BundleFormat.detect(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
                    }
                    format = detected
                    if detected == .tarGz { inflater = try GzipInflater() }
                }
                if count == 0 { break }
                try buffer.withUnsafeBytes { raw in
                    let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                    if let inflater {
                        try inflater.feed(chunk) { inflated in try collector.consume(inflated) }
                    } else {
                        try collector.consume(chunk)
                    }
                }
            }
            try inflater?.finish()
            return try collector.validated(format: format ?? .tar)
        } catch {
            collector.discard()
            throw error
        }
    }
}

/// Reads an uncompressed bundle as its bytes arrive (the server's upload path, so the upload is
/// never spooled whole): the checks and spooling of `BundleReader`, and, in archive order, the
/// bytes that are not a spooled file's content (`literal`) and each spooled file's range once its
/// content is hashed (`content`): what the server keeps of the bundle instead of its bytes.
/// One caller at a time.
public final class BundleStreamReader: @unchecked Sendable {
    private var collector: EntryCollector
    /// How far the archive has been handed to `literal` and `content`.
    private var emitted: Int64 = 0
    /// The first span of `collector.spans` not yet handed over.
    private var nextSpan = 0

    public init(
        limits: BundleLimits, temporaryDirectory: String, anonymousSpools: Bool = true,
        progress: ((Int64) throws -> Void)? = nil
    ) {
        collector = EntryCollector(
            limits: limits, directory: temporaryDirectory, anonymous: anonymousSpools, progress: progress)
    }

    /// Reads the next bytes of the archive. On an error, call `discard()`.
    public func feed(
        _ chunk: UnsafeRawBufferPointer, literal: (UnsafeRawBufferPointer) throws -> Void,
        content: (BundleContentRange) throws -> Void
    ) throws {
        try collector.consume(chunk)
        let start = collector.uncompressedBytes - Int64(chunk.count)
        let end = collector.uncompressedBytes
        while emitted < end {
            if nextSpan < collector.spans.count, collector.spans[nextSpan].offset == emitted {
                // A file's bytes: handed over once all of them are in and hashed.
                guard let range = collector.completedRange(nextSpan) else { break }
                try content(range)
                emitted = range.offset + range.size
                nextSpan += 1
            } else {
                let stop = nextSpan < collector.spans.count ? min(collector.spans[nextSpan].offset, end) : end
                try literal(UnsafeRawBufferPointer(rebasing: chunk[Int(emitted - start)..<Int(stop - start)]))
                emitted = stop
            }
        }
    }

    /// Checks the end of the archive and matches content to operations.
    public func finish() throws -> ValidatedBundle { try collector.validated(format: .tar) }

    /// Removes every spool file made so far (after an error).
    public func discard() { collector.discard() }
}

/// One entry read from the archive, before the wrapper directory is known.
struct CollectedEntry {
    var name: String
    var isDirectory: Bool
    var content: SpooledContent?
}

/// Receives inflated bytes, drives the tar parser, enforces the limits and spools entries.
struct EntryCollector {
    let limits: BundleLimits
    /// The temporary directory spool files are made in.
    let directory: String
    /// Whether content is spooled to anonymous files while they can be made (`AnonymousSpool`).
    let anonymous: Bool
    /// The path prefix of this bundle's named spool files.
    let spool: String
    let progress: ((Int64) throws -> Void)?
    /// Every spool file created, in order.
    private(set) var spooled: [String] = []
    var tar = TarReader()
    var entries: [CollectedEntry] = []
    var uncompressedBytes: Int64 = 0
    var entryCount = 0
    private var current: (file: RawFile?, hasher: DualHasher, index: Int, size: Int64, begun: Bool)?
    /// Every spooled entry whose data has begun, in archive order: where its bytes start in the
    /// (uncompressed) archive, how many there are, and its index in `entries`.
    private(set) var spans: [(offset: Int64, size: Int64, entry: Int)] = []
    /// The chunk being parsed and the archive offset of its first byte: a data event's offset in
    /// the archive is computed from them.
    private var chunkBase: UnsafeRawPointer?
    private var chunkOffset: Int64 = 0
    /// The bytes of the entry being read when it has no spool file (a small metadata document).
    private var memory: [UInt8] = []
    /// What the metadata read so far says of SHA-1: whether `metadata/operations.json` has been
    /// read, and whether it or `metadata/hashes.json` mentions `sha1` at all.
    private var operationsRead = false
    private var metadataMentionsSHA1 = false

    /// Whether the file beginning now is hashed with SHA-1 too: unless `operations.json` came
    /// before it and neither it nor a `hashes.json` before it mentions `sha1` (our client's
    /// bundles: metadata first, SHA-256 only). A hash that turns out to need a skipped SHA-1 (a
    /// `hashes.json` after the files) has it worked out from the spool file
    /// (`SpooledContent.withSHA1`); a file stored without one gets it when a lookup by SHA-1
    /// first needs it (the server's `fillSHA1`).
    var hashesSHA1: Bool { !operationsRead || metadataMentionsSHA1 }

    /// Metadata documents up to this size are read into memory: a one-file save's three would
    /// otherwise cost three files created, written, read back and deleted on its way to the server.
    static let inMemoryMetadataBytes: Int64 = 1 << 20

    /// A spooled entry at least this large has its writeback started as soon as it is read, so
    /// the bundle's flush finds less to write. Smaller ones are left to that flush: one
    /// `sync_file_range` per small file cost more CPU than it saved (a tenth of the server's
    /// time in a first push of 100,000 files).
    static let writebackBytes: Int64 = 8 << 20

    /// The range of `spans[index]` with its content's SHA-256, once all of its bytes are read.
    func completedRange(_ index: Int) -> BundleContentRange? {
        let span = spans[index]
        guard let content = entries[span.entry].content, !content.digest.sha256.isEmpty else { return nil }
        return BundleContentRange(
            offset: span.offset, size: span.size, sha256: content.digest.sha256, spool: content.path,
            anonymous: content.anonymous)
    }

    /// Checks the archive ended where it should and matches content to operations.
    mutating func validated(format: BundleFormat) throws -> ValidatedBundle {
        try finish()
        let operations = try BundleContentMatcher(entries: entries, limits: limits).match()
        return ValidatedBundle(
            manifest: operations.manifest, operations: operations.operations, spoolPrefix: spool,
            spooled: spooled, uncompressedBytes: uncompressedBytes, entryCount: entryCount, format: format,
            // Offsets in an inflated stream say nothing of where bytes sit in the stored file.
            contentRanges: format == .tar ? spans.indices.compactMap(completedRange) : []
        )
    }

    /// Closes the entry being written and removes every spool file (after an error): the named
    /// ones by name, the anonymous ones by dropping them (a copy held elsewhere keeps its own
    /// open).
    mutating func discard() {
        closeCurrent()
        for path in spooled { unlink(path) }
        entries = []
        spans = []
    }

    static let metadataDocuments: [[UInt8]] = [
        Array("manifest.json".utf8), Array("metadata/hashes.json".utf8), Array("metadata/operations.json".utf8),
    ]

    /// Whether `name` is where a metadata document sits, at the root or under a one-component
    /// wrapper (`manifest.json`, `metadata/hashes.json`, `metadata/operations.json`). Such a name
    /// is never a file's content: content is `files/<created|updated|moved>/…` below the wrapper.
    static func isMetadataName(_ name: [UInt8]) -> Bool {
        for document in metadataDocuments {
            if name == document { return true }
            guard name.count > document.count + 1, name.suffix(document.count).elementsEqual(document) else { continue }
            let wrapper = name.prefix(name.count - document.count - 1)
            if name[name.count - document.count - 1] == UInt8(ascii: "/"), !wrapper.contains(UInt8(ascii: "/")) {
                return true
            }
        }
        return false
    }

    init(
        limits: BundleLimits, directory: String, anonymous: Bool = true, progress: ((Int64) throws -> Void)?
    ) {
        self.limits = limits
        self.directory = directory
        self.anonymous = anonymous
        spool = directory + "/spool-" + UUID().uuidString.lowercased() + "-"
        self.progress = progress
    }

    mutating func consume(_ chunk: UnsafeRawBufferPointer) throws {
        uncompressedBytes += Int64(chunk.count)
        try progress?(uncompressedBytes)
        if uncompressedBytes > limits.maxUncompressedBytes {
            throw DeltaError(
                .uncompressedTooLarge,
                "bundle expands to more than \(limits.maxUncompressedBytes) bytes",
                details: ["limit_bytes": .int(limits.maxUncompressedBytes)]
            )
        }
        var parser = tar
        defer { tar = parser }
        chunkBase = chunk.baseAddress
        chunkOffset = uncompressedBytes - Int64(chunk.count)
        defer { chunkBase = nil }
        try parser.consume(chunk) { event in try handle(event) }
    }

    private mutating func handle(_ event: TarReader.Event) throws {
        switch event {
        case .begin(let entry):
            entryCount += 1
            if entryCount > limits.maxEntries {
                throw DeltaError(
                    .tooManyEntries, "bundle has more than \(limits.maxEntries) entries",
                    details: ["limit": .int(Int64(limits.maxEntries))]
                )
            }
            try begin(entry)
        case .data(let bytes):
            guard var open = current else { return }
            if let file = open.file {
                if !open.begun, let base = bytes.baseAddress, let chunkBase {
                    open.begun = true
                    spans.append((chunkOffset + Int64(chunkBase.distance(to: base)), open.size, open.index))
                }
                try file.write(bytes)
            } else {
                memory.append(contentsOf: bytes)
            }
            open.hasher.update(bytes)
            current = open
        case .end:
            guard let open = current else { return }
            current = nil
            let digest = open.hasher.finalize()
            if let file = open.file {
                if digest.size >= Self.writebackBytes { file.startWriteback() }
            } else {
                noteMetadata(entries[open.index].name, memory)
                entries[open.index].content?.bytes = memory
                memory = []
            }
            entries[open.index].content?.digest = digest
        }
    }

    /// Notes what a metadata document read into memory says of SHA-1 (`hashesSHA1`). Any
    /// mention counts, a path's included: hashing a bundle's files with SHA-1 too is only slower.
    /// Only metadata documents are read into memory (`isMetadataName`), so the name's end says
    /// which one this is.
    private mutating func noteMetadata(_ name: String, _ bytes: [UInt8]) {
        let isOperations = name.hasSuffix("metadata/operations.json")
        guard isOperations || name.hasSuffix("metadata/hashes.json") else { return }
        if isOperations { operationsRead = true }
        if Self.mentionsSHA1(bytes) { metadataMentionsSHA1 = true }
    }

    static func mentionsSHA1(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return false }
            var at = 0
            // Each `s` found by `memchr`, then the three bytes after it.
            while at + 4 <= raw.count, let found = memchr(base + at, Int32(UInt8(ascii: "s")), raw.count - 3 - at) {
                let index = base.distance(to: UnsafeRawPointer(found))
                if raw[index + 1] == UInt8(ascii: "h"), raw[index + 2] == UInt8(ascii: "a"),
                    raw[index + 3] == UInt8(ascii: "1")
                {
                    return true
                }
                at = index + 1
            }
            return false
        }
    }

    private mutating func begin(_ entry: TarReader.TarEntry) throws {
        var name = entry.name
        let isDirectory: Bool
        switch entry.kind {
        case .regular:
            isDirectory = false
        case .directory:
            isDirectory = true
            while name.last == UInt8(ascii: "/") { name.removeLast() }
        case .symlink, .hardlink:
            throw DeltaError(
                .unsupportedEntry, "bundle contains a link entry '\(printable(name))'; links are not accepted")
        case .device, .fifo:
            throw DeltaError(.unsupportedEntry, "bundle contains a device or FIFO entry '\(printable(name))'")
        default:
            throw DeltaError(.unsupportedEntry, "bundle contains an unsupported tar entry type '\(printable(name))'")
        }
        while name.starts(with: [UInt8(ascii: "."), UInt8(ascii: "/")]) { name.removeFirst(2) }
        if isDirectory && (name.isEmpty || name == [UInt8(ascii: ".")]) { return }
        if let reason = PathRules.violation(in: name) {
            throw DeltaError(
                .invalidPath, "bundle entry '\(printable(name))' has an invalid name: \(reason)",
                details: ["path": .string(printable(name))]
            )
        }
        if entry.size > limits.maxFileBytes {
            throw DeltaError(
                .fileTooLarge,
                "bundle entry '\(printable(name))' is \(entry.size) bytes; the limit is \(limits.maxFileBytes) bytes",
                details: ["limit_bytes": .int(limits.maxFileBytes)]
            )
        }
        let text = String(decoding: name, as: UTF8.self)
        guard !isDirectory else {
            entries.append(CollectedEntry(name: text, isDirectory: true, content: nil))
            return
        }
        let digest = ContentDigest(sha1: "", sha256: "", size: 0)
        if entry.size <= Self.inMemoryMetadataBytes, Self.isMetadataName(name) {
            let content = SpooledContent(path: "", bytes: [], digest: digest, tarMode: entry.mode)
            entries.append(CollectedEntry(name: text, isDirectory: false, content: content))
            memory.reserveCapacity(Int(entry.size))
            current = (nil, DualHasher(), entries.count - 1, entry.size, false)
            return
        }
        // Created in the mode the header asks for, which is nearly always the mode its blob
        // takes: storing it then costs a link or a rename, not a `chmod` as well.
        let mode: mode_t = entry.mode & 0o111 != 0 ? 0o755 : 0o644
        let spoolMode = FileSystem.umask.map { UInt32(mode & ~$0) }
        let content: SpooledContent
        let file: RawFile
        if anonymous, let spool = try AnonymousSpool.make(in: directory, mode: UInt32(mode)) {
            file = spool.file
            content = SpooledContent(
                path: spool.path, anonymous: spool, digest: digest, tarMode: entry.mode, spoolMode: spoolMode)
        } else {
            let path = spool + "e\(entries.count)"
            file = try RawFile.create(path, mode: mode, exclusive: true)
            spooled.append(path)
            content = SpooledContent(path: path, digest: digest, tarMode: entry.mode, spoolMode: spoolMode)
        }
        entries.append(CollectedEntry(name: text, isDirectory: false, content: content))
        current = (file, DualHasher(sha1: hashesSHA1), entries.count - 1, entry.size, false)
    }

    /// Drops the entry being written (on an error: its descriptor is closed before its file is
    /// removed).
    mutating func closeCurrent() { current = nil }

    mutating func finish() throws {
        guard tar.isAtBoundary else {
            throw DeltaError(.invalidTar, "bundle's tar archive is truncated")
        }
        if entryCount == 0 {
            throw DeltaError(.missingManifest, "bundle is an empty archive (no manifest.json)")
        }
    }

    private func printable(_ bytes: [UInt8]) -> String {
        PathRules.printable(String(decoding: bytes.prefix(300), as: UTF8.self))
    }
}
