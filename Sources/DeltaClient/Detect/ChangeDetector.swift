import DeltaCore

/// Compares a scan against the base tree and classifies every difference as created, updated,
/// deleted or moved.
///
/// Only files whose stat fingerprint (size, mtime ns, ctime ns, inode, mode) differs from the
/// base are read. A move is a deleted path and a created path with the same content, matched one
/// to one; it is sent as one `moved` operation with no content. A path that existed before and
/// still exists is never part of a move, so swaps and chains stay correct as updates.
public struct ChangeDetector: Sendable {
    public let root: String
    /// Files larger than this cannot be sent (the server's per-file limit).
    public var maxFileBytes: Int64

    /// A file unchanged for this long before it is hashed carries its stat to the bundle writer
    /// (`BundleWriter.Entry.hashedAs`), which then checks the stat after copying it instead of
    /// hashing it again. A write after hashing began sets a ctime at least this much later than
    /// the one recorded, whatever the filesystem's timestamp granularity; git's racy-entry rule.
    public var settledWindow: Duration = TreeSnapshot.racyWindow

    public init(root: String, maxFileBytes: Int64 = 256 << 20) {
        self.root = root
        self.maxFileBytes = maxFileBytes
    }

    /// - Parameters:
    ///   - scanned: the workspace now.
    ///   - base: what the server has, by path (stat fields may be zero when only the hash is known).
    public func detect(
        scanned: [ScannedFile], base: [String: TrackedFile], hashProgress: (@Sendable (Int64) -> Void)? = nil
    ) -> ChangeSet {
        var result = ChangeSet()
        var toHash: [ScannedFile] = []
        // Every base path seen on disk: when all are, nothing was deleted and the (costly) set of
        // present paths is never built — the no-change case stays one hash lookup per file.
        var matched = 0
        for file in scanned {
            let known = base[file.path]
            if known != nil { matched += 1 }
            if file.size > maxFileBytes {
                result.skipped.append((file.path, "\(SkippedPath.tooLargePrefix) of \(maxFileBytes) bytes"))
                continue
            }
            if let known, Self.sameStat(known, file) { continue }
            toHash.append(file)
        }
        let settledBefore = TreeSnapshot.now() - settledWindow.nanoseconds
        let digests = ContentHasher.hash(toHash.map { root + "/" + $0.path }, progress: hashProgress)
        // Whether a file had settled before hashing began (its stat then stands for its content).
        func settled(_ state: TrackedFile) -> Bool {
            state.mtimeNanoseconds < settledBefore && state.ctimeNanoseconds < settledBefore
        }

        var created: [TrackedFile] = []
        for (file, digest) in zip(toHash, digests) {
            guard let digest else {
                result.skipped.append((file.path, "vanished or unreadable while hashing"))
                continue
            }
            let state = Self.state(file, sha256: digest)
            if let known = base[file.path] {
                if known.sha256 == digest && Self.executable(known.mode) == Self.executable(file.mode) {
                    result.refreshed.append(state)
                } else {
                    result.changes.append(Self.change(.updated, state, settled: settled(state)))
                }
            } else {
                created.append(state)
            }
        }
        // Deleted paths, by content, to pair with created paths one to one.
        var deletedByHash: [String: [String]] = [:]
        var deleted: [String] = []
        if matched < base.count {
            // Skipped files (too large, unreadable) are in `present`: they are never deleted here.
            let present = Set(scanned.lazy.map(\.path))
            for (path, known) in base where !present.contains(path) {
                deleted.append(path)
                deletedByHash[known.sha256, default: []].append(path)
            }
        }
        for key in deletedByHash.keys { deletedByHash[key]?.sort() }
        var movedSources = Set<String>()
        for state in created.sorted(by: { $0.path < $1.path }) {
            if var sources = deletedByHash[state.sha256], !sources.isEmpty {
                let source = sources.removeFirst()
                deletedByHash[state.sha256] = sources
                movedSources.insert(source)
                var change = Self.change(.moved, state, settled: settled(state))
                change.operation.sourcePath = source
                result.changes.append(change)
            } else {
                result.changes.append(Self.change(.created, state, settled: settled(state)))
            }
        }
        for path in deleted.sorted() where !movedSources.contains(path) {
            result.changes.append(
                ChangeSet.Change(operation: BundleOperation(operation: .deleted, path: path), state: nil))
        }
        return result
    }

    static func sameStat(_ known: TrackedFile, _ file: ScannedFile) -> Bool {
        known.size == file.size && known.mtimeNanoseconds == file.mtimeNanoseconds
            && known.ctimeNanoseconds == file.ctimeNanoseconds && known.inode == file.inode && known.mode == file.mode
    }

    static func executable(_ mode: UInt32) -> Bool { mode & 0o111 != 0 }

    static func state(_ file: ScannedFile, sha256: String) -> TrackedFile {
        TrackedFile(
            path: file.path, size: file.size, mtimeNanoseconds: file.mtimeNanoseconds,
            ctimeNanoseconds: file.ctimeNanoseconds,
            inode: file.inode, mode: file.mode, sha256: sha256
        )
    }

    static func change(_ kind: OperationKind, _ state: TrackedFile, settled: Bool = false) -> ChangeSet.Change {
        ChangeSet.Change(
            operation: BundleOperation(
                operation: kind, path: state.path, contentHash: ContentHash(algorithm: .sha256, hex: state.sha256),
                sizeBytes: state.size, mode: executable(state.mode) ? 0o755 : 0o644
            ),
            state: state, settled: settled
        )
    }
}
