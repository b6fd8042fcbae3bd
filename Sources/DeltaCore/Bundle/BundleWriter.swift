import Foundation

/// Where the bytes of a created, updated or moved file come from when writing a bundle.
public enum BundleContent: Sendable {
    case bytes([UInt8])
    /// A file on disk, expected to be `size` bytes long (a file that changed size since it was
    /// hashed makes the write fail, so the caller can rescan rather than send torn content).
    case file(path: String, size: Int64)
}

/// Writes a delta bundle in the layout existing clients produce and the existing upload service
/// accepts: a `<bundle_id>/` wrapper directory, `manifest.json` and `metadata/` first, then
/// `files/<kind>/<path>`, gzip level 1 by default, or an uncompressed tar for a server that
/// lists `tar` in `supported_formats`.
public struct BundleWriter: Sendable {
    public var compressionLevel: Int32
    public var format: BundleFormat

    public init(compressionLevel: Int32 = 1, format: BundleFormat = .tarGz) {
        self.compressionLevel = compressionLevel
        self.format = format
    }

    /// One file to include.
    public struct Entry: Sendable {
        public var operation: BundleOperation
        public var content: BundleContent?
        /// The stat of a `.file` when its `contentHash` was computed, given only when it had not
        /// changed for a while before (so a later write cannot leave it as it was). The file is
        /// then not hashed a second time as it is copied: its stat after the copy must still be
        /// this one. Without it, the copy is hashed and compared with `contentHash`.
        public var hashedAs: StatFingerprint?

        public init(operation: BundleOperation, content: BundleContent?, hashedAs: StatFingerprint? = nil) {
            self.operation = operation
            self.content = content
            self.hashedAs = hashedAs
        }
    }

    /// Writes the bundle to `path` and, when `sync`, fsyncs it. Returns its size on disk.
    @discardableResult
    public func write(
        to path: String, bundleID: String, workspacePath: String?, sequenceNumber: Int64?, entries: [Entry],
        sync: Bool = true
    ) throws -> Int64 {
        let output = try RawFile.create(path, mode: 0o600)
        let deflater = format == .tarGz ? try GzipDeflater(level: compressionLevel) : nil
        var pending = [UInt8]()
        pending.reserveCapacity(1 << 20)
        var written: Int64 = 0
        func flushPending() throws {
            try output.write(pending)
            written += Int64(pending.count)
            pending.removeAll(keepingCapacity: true)
        }
        let sink: (UnsafeRawBufferPointer) throws -> Void = { chunk in
            pending.append(contentsOf: chunk)
            if pending.count >= 1 << 20 { try flushPending() }
        }
        let tar = TarWriter { bytes in
            if let deflater { try deflater.feed(bytes, sink: sink) } else { try sink(bytes) }
        }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        try emit(
            tar, bundleID: bundleID, workspacePath: workspacePath, sequenceNumber: sequenceNumber, entries: entries
        ) {
            entry, sourcePath, size in
            try Self.copy(entry, from: sourcePath, size: size, into: tar, buffer: &buffer)
        }
        try deflater?.finish(sink: sink)
        try flushPending()
        if sync { try output.sync() }
        return written
    }

    /// Whether an uncompressed bundle of `entries` can be kept as a source list
    /// (``writeSources(to:bundleID:workspacePath:sequenceNumber:entries:)``): every file it reads
    /// has a stat fingerprint or a SHA-256 to be checked against when it is read again.
    public static func canReference(_ entries: [Entry]) -> Bool {
        entries.allSatisfy { entry in
            guard case .file = entry.content else { return true }
            if entry.hashedAs != nil { return true }
            guard let hash = entry.operation.contentHash else { return false }
            return hash.algorithm == .sha256 && hash.hex.utf8.count == 64
        }
    }

    /// Writes, instead of the uncompressed bundle itself, its ``BundleSources`` list: the tar's
    /// own bytes and, for each file, where its content is and what it was hashed as. The entries
    /// must pass ``canReference(_:)``. The list is not fsynced here.
    /// - Returns: the size of the bundle the list makes, and of the list.
    @discardableResult
    public func writeSources(
        to path: String, bundleID: String, workspacePath: String?, sequenceNumber: Int64?, entries: [Entry]
    ) throws -> (bundleSize: Int64, listSize: Int64) {
        precondition(Self.canReference(entries), "a source list needs a fingerprint or SHA-256 for every file")
        var recorder = BundleSources.Recorder()
        let tar = TarWriter { bytes in recorder.bytes(bytes) }
        try emit(
            tar, bundleID: bundleID, workspacePath: workspacePath, sequenceNumber: sequenceNumber, entries: entries
        ) {
            entry, sourcePath, size in
            let hash = entry.operation.contentHash
            recorder.file(
                path: sourcePath, size: size, sha256: hash?.algorithm == .sha256 ? hash?.hex : nil,
                hashedAs: entry.hashedAs)
        }
        let list = recorder.finish()
        let output = try RawFile.create(path, mode: 0o600)
        try output.write(list)
        return (recorder.bundleSize, Int64(list.count))
    }

    /// The bundle's tar stream: wrapper directory, manifest and metadata, then each entry's
    /// content, a file's by `file(entry, path, size)` between its header and its padding.
    private func emit(
        _ tar: TarWriter, bundleID: String, workspacePath: String?, sequenceNumber: Int64?, entries: [Entry],
        file: (Entry, String, Int64) throws -> Void
    ) throws {
        var counts = OperationCounts()
        var totalSize: Int64 = 0
        var hashes: [String: String] = [:]
        for entry in entries {
            counts.count(entry.operation.operation)
            if let content = entry.content {
                totalSize += content.size
            }
            if let hash = entry.operation.contentHash, entry.operation.operation != .deleted {
                hashes[entry.operation.path] = hash.description
            }
        }
        let now = RFC3339.string()
        let manifest = BundleManifest(
            bundleID: bundleID, workspacePath: workspacePath,
            collectionName: workspacePath.map { WorkspaceIdentity.collectionName(forPath: $0) }, createdAt: now,
            sequenceNumber: sequenceNumber, parentSequence: sequenceNumber.map { $0 - 1 }, operations: counts,
            totalFiles: entries.count, totalSizeBytes: totalSize
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let manifestJSON = try encoder.encode(manifest)
        let hashesJSON = HashesDocument(workspacePath: workspacePath, updatedAt: now, fileHashes: hashes).jsonBytes()
        let operationsJSON = OperationsDocument(operations: entries.map(\.operation)).jsonBytes()

        let root = bundleID + "/"
        try tar.beginDirectory(name: bundleID)
        try tar.addFile(name: root + "manifest.json", bytes: Array(manifestJSON))
        try tar.addFile(name: root + "metadata/hashes.json", bytes: hashesJSON)
        try tar.addFile(name: root + "metadata/operations.json", bytes: operationsJSON)
        for entry in entries {
            guard let content = entry.content else { continue }
            let name = root + "files/\(entry.operation.operation.rawValue)/\(entry.operation.path)"
            let mode: UInt32 = (entry.operation.mode ?? 0o644) & 0o111 != 0 ? 0o755 : 0o644
            switch content {
            case .bytes(let bytes):
                try tar.addFile(name: name, bytes: bytes, mode: mode)
            case .file(let sourcePath, let size):
                try tar.beginFile(name: name, size: size, mode: mode)
                try file(entry, sourcePath, size)
                try tar.finishEntry(size: size)
            }
        }
        try tar.finish()
    }

    /// Copies a file's `size` bytes into the tar, checking it is still what was hashed.
    private static func copy(
        _ entry: Entry, from sourcePath: String, size: Int64, into tar: TarWriter, buffer: inout [UInt8]
    ) throws {
        let input = try RawFile.open(reading: sourcePath)
        var hasher = SHA256Hasher()
        var remaining = size
        while remaining > 0 {
            let count = try buffer.withUnsafeMutableBytes { raw in
                try input.read(
                    into: UnsafeMutableRawBufferPointer(
                        rebasing: raw[0..<Int(min(Int64(raw.count), remaining))]))
            }
            if count == 0 {
                throw DeltaError(
                    .changedWhileBundling, "\(sourcePath) shrank while it was being bundled")
            }
            try buffer.withUnsafeBytes { raw in
                let slice = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                if entry.hashedAs == nil { hasher.update(slice) }
                try tar.writeData(slice)
            }
            remaining -= Int64(count)
        }
        // A file edited between hashing and bundling would be rejected by the server as a
        // hash mismatch: report it so the caller rescans instead.
        let hash = entry.operation.contentHash
        try checkUnchanged(
            input, path: sourcePath, size: size, hashedAs: entry.hashedAs,
            sha256: hash?.algorithm == .sha256 ? hash?.hex : nil, read: hasher, when: "while it was being bundled")
    }

    /// Whether a file just read whole (`read` hashed its bytes, unless it has a fingerprint) is
    /// still what was recorded: its stat fingerprint unchanged when one was recorded, else its
    /// SHA-256, and its size. Throws `CHANGED_WHILE_BUNDLING` saying `when` it changed.
    static func checkUnchanged(
        _ input: RawFile, path: String, size: Int64, hashedAs: StatFingerprint?, sha256: String?,
        read hasher: SHA256Hasher, when: String
    ) throws {
        let after = try input.fingerprint()
        if let hashedAs {
            if after != hashedAs { throw DeltaError(.changedWhileBundling, "\(path) changed \(when)") }
        } else if let sha256, sha256 != hasher.finalize() {
            throw DeltaError(.changedWhileBundling, "\(path) changed \(when)")
        }
        if after.size != size { throw DeltaError(.changedWhileBundling, "\(path) changed size \(when)") }
    }
}

extension BundleContent {
    public var size: Int64 {
        switch self {
        case .bytes(let bytes): return Int64(bytes.count)
        case .file(_, let size): return size
        }
    }
}
