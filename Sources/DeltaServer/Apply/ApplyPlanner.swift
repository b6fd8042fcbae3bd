import DeltaCore

/// The effect of one bundle, computed against a snapshot of the file table before anything is
/// written: the final rows, the counts and the change-log operations. (The content to store
/// does not depend on the snapshot: `ApplyPlanner.contentBlobs`.)
struct ApplyPlan: Sendable {
    var fileChanges: [FileChange] = []
    var counts = OperationCounts(skipped: 0, failed: 0)
    var changeOperations: [ChangeOperation] = []
}

/// Applies operations in file order to an overlay of the current file table (DESIGN §7):
/// `deleted` of a missing path is skipped; `moved` takes its embedded content, else a blob the
/// workspace already holds, else the source's; the result must be a valid tree (no path that is
/// both a file and a directory), or nothing is applied.
///
/// A pure function: `query(for:)` says what of the file table the operations touch, the storage
/// reads that once (`FileTableStore.snapshot`), and `plan` runs over the snapshot with no I/O.
struct ApplyPlanner {
    let snapshot: FileTableSnapshot
    /// Paths written or deleted so far, keyed by bytes (never by canonical `String` equality).
    private var overlay: [PathKey: FileRecord?] = [:]
    /// The overlay's paths in the order they were first written: already in byte order for a
    /// bundle of our client's, so the file changes come out without a sort.
    private var written: [PathKey] = []
    /// Live overlay paths by content hash, so `held()` is a lookup rather than a scan.
    private var heldBySHA256: [String: Set<PathKey>] = [:]
    private var heldBySHA1: [String: Set<PathKey>] = [:]
    /// Whether any operation looks content up by hash (a move that does not carry it): only
    /// then are the two indexes kept (a first push's 2,000 creates would fill them for nothing).
    private var indexesHeld = false

    init(snapshot: FileTableSnapshot) { self.snapshot = snapshot }

    /// What `plan` will read: every target and move source with its ancestors (a file there
    /// would make a directory impossible), every target's descendants (files below a path that
    /// becomes a file), and the content moved without being carried.
    static func query(for operations: [ValidatedOperation]) -> FileTableQuery {
        var query = FileTableQuery()
        for validated in operations {
            let operation = validated.operation
            for path in [operation.path] + (operation.sourcePath.map { [$0] } ?? []) {
                query.paths.insert(PathKey(path))
                for parent in PathRules.parents(of: path) { query.paths.insert(PathKey(parent)) }
            }
            if operation.operation != .deleted { query.directories.insert(PathKey(operation.path)) }
            if operation.operation == .moved, validated.content == nil, let hash = operation.contentHash {
                query.hashes.insert(hash)
            }
        }
        return query
    }

    static func plan(_ operations: [ValidatedOperation], snapshot: FileTableSnapshot) throws -> ApplyPlan {
        var planner = ApplyPlanner(snapshot: snapshot)
        return try planner.run(operations)
    }

    /// The mode of the file an operation with content writes: a move's comes from its tar
    /// header, a created or updated file's from the operation's `mode`, else the header.
    static func mode(of validated: ValidatedOperation) -> UInt32 {
        let executable =
            validated.operation.operation == .moved
            ? (validated.content?.tarMode ?? 0) & 0o111 != 0 : validated.isExecutable
        return executable ? 0o755 : 0o644
    }

    /// SHA-256 → spooled file of every content the operations bring, with the mode of the first
    /// file that brings it (the blob stored from it then shares its inode with that file's
    /// materialised copy). The same whatever the file table holds.
    static func contentBlobs(_ operations: [ValidatedOperation]) -> [String: (content: SpooledContent, mode: UInt32)] {
        var blobs: [String: (content: SpooledContent, mode: UInt32)] = [:]
        blobs.reserveCapacity(operations.count)
        for validated in operations {
            guard let content = validated.content else { continue }
            switch validated.operation.operation {
            case .created, .updated, .moved:
                if blobs[content.digest.sha256] == nil {
                    blobs[content.digest.sha256] = (content, mode(of: validated))
                }
            case .deleted:
                continue
            }
        }
        return blobs
    }

    private mutating func run(_ operations: [ValidatedOperation]) throws -> ApplyPlan {
        var plan = ApplyPlan()
        indexesHeld = operations.contains {
            $0.operation.operation == .moved && $0.content == nil && $0.operation.contentHash != nil
        }
        for (index, validated) in operations.enumerated() {
            let operation = validated.operation
            switch operation.operation {
            case .created, .updated:
                guard let content = validated.content else {
                    throw DeltaError(.contentMissing, "operation \(index) has no content")
                }
                let record = FileRecord(
                    path: operation.path, sha256: content.digest.sha256, sha1: content.digest.sha1,
                    size: content.digest.size, mode: Self.mode(of: validated)
                )
                setOverlay(operation.path, record)
                plan.counts.count(operation.operation)
                plan.changeOperations.append(Self.logged(operation.operation, record, source: nil))
            case .deleted:
                if try current(operation.path) != nil {
                    setOverlay(operation.path, nil)
                    plan.counts.count(.deleted)
                    plan.changeOperations.append(
                        ChangeOperation(
                            operation: .deleted, path: operation.path, sourcePath: nil, contentHash: nil, sizeBytes: nil
                        )
                    )
                } else {
                    plan.counts.skipped = (plan.counts.skipped ?? 0) + 1
                }
            case .moved:
                let source = operation.sourcePath ?? operation.path
                let sourceRecord = try current(source)
                var record: FileRecord
                if let content = validated.content {
                    record = FileRecord(
                        path: operation.path, sha256: content.digest.sha256, sha1: content.digest.sha1,
                        size: content.digest.size, mode: Self.mode(of: validated)
                    )
                } else if let hash = operation.contentHash {
                    guard let held = try held(hash) else {
                        throw DeltaError(
                            .contentMissing,
                            "operation \(index) moves '\(PathRules.printable(source))' to "
                                + "'\(PathRules.printable(operation.path))' with content \(hash), which is neither "
                                + "in the bundle nor in the workspace",
                            details: ["path": .string(operation.path)]
                        )
                    }
                    record = held
                } else if let sourceRecord {
                    record = sourceRecord
                } else {
                    throw DeltaError(
                        .contentMissing,
                        "operation \(index) moves '\(PathRules.printable(source))', which does not exist, "
                            + "and brings no content",
                        details: ["path": .string(operation.path)]
                    )
                }
                record.path = operation.path
                if let mode = operation.mode {
                    record.mode = mode & 0o111 != 0 ? 0o755 : 0o644
                } else if validated.content == nil, let sourceRecord {
                    record.mode = sourceRecord.mode
                }
                setOverlay(operation.path, record)
                if sourceRecord != nil && !source.bytesEqual(operation.path) {
                    setOverlay(source, nil)
                    plan.counts.count(.moved)
                } else {
                    plan.counts.skipped = (plan.counts.skipped ?? 0) + 1
                }
                plan.changeOperations.append(Self.logged(.moved, record, source: source))
            }
        }
        try checkTree()
        let paths = zip(written, written.dropFirst()).allSatisfy { $0 < $1 } ? written : written.sorted()
        for path in paths {
            if let record = overlay[path] ?? nil {
                plan.fileChanges.append(.upsert(record))
            } else {
                plan.fileChanges.append(.delete(path: path.string))
            }
        }
        return plan
    }

    private mutating func setOverlay(_ path: String, _ record: FileRecord?) {
        let key = PathKey(path)
        guard indexesHeld else {
            if overlay.updateValue(record, forKey: key) == nil { written.append(key) }
            return
        }
        let previous = overlay.updateValue(record, forKey: key)
        if previous == nil { written.append(key) }
        if case .some(.some(let previous)) = previous {
            heldBySHA256[previous.sha256]?.remove(key)
            if !previous.sha1.isEmpty { heldBySHA1[previous.sha1]?.remove(key) }
        }
        if let record {
            heldBySHA256[record.sha256, default: []].insert(key)
            // Content hashed without SHA-1 is in a bundle that moves nothing by SHA-1.
            if !record.sha1.isEmpty { heldBySHA1[record.sha1, default: []].insert(key) }
        }
    }

    private func current(_ path: String) throws -> FileRecord? {
        let key = PathKey(path)
        if let state = overlay[key] { return state }
        return snapshot.files[key]
    }

    /// Content the workspace holds: written earlier in this bundle, or a current file.
    private func held(_ hash: ContentHash) throws -> FileRecord? {
        let index = hash.algorithm == .sha256 ? heldBySHA256 : heldBySHA1
        if let key = index[hash.hex]?.first, case .some(.some(let record)) = overlay[key] { return record }
        return snapshot.holders[hash]
    }

    /// No written path may have a file as an ancestor or files below it.
    private func checkTree() throws {
        var directories: Set<PathKey> = []
        for (path, state) in overlay where state != nil {
            for parent in PathRules.parents(of: path.string) where !directories.contains(PathKey(parent)) {
                if try current(parent) != nil {
                    throw conflict(file: parent, directoryFor: path.string)
                }
                directories.insert(PathKey(parent))
            }
            // Each of these is a current file unless this bundle deleted it.
            for below in snapshot.below[path] ?? [] {
                if case .some(.none) = overlay[PathKey(below)] { continue }
                throw conflict(file: path.string, directoryFor: below)
            }
        }
    }

    private func conflict(file: String, directoryFor path: String) -> DeltaError {
        DeltaError(
            .pathConflict,
            "'\(PathRules.printable(file))' would be both a file and the directory of '\(PathRules.printable(path))'",
            details: ["path": .string(file), "conflicting_path": .string(path)]
        )
    }

    private static func logged(_ kind: OperationKind, _ record: FileRecord, source: String?) -> ChangeOperation {
        ChangeOperation(
            operation: kind, path: record.path, sourcePath: source,
            contentHash: ContentHash(algorithm: .sha256, hex: record.sha256), sizeBytes: record.size, mode: record.mode
        )
    }
}
