public import DeltaCore
public import DeltaGraph

/// A workspace row.
public struct WorkspaceRecord: Sendable, Hashable {
    public var key: String
    public var workspacePath: String?
    public var collectionName: String
    public var lastSequence: Int64
    public var lastUpload: String?
    public var materializedSequence: Int64
    public var indexedSequence: Int64
    /// The oldest change-log entry still kept in full (1 until the log is compacted).
    public var firstRetained: Int64 = 1

    /// Whether a follower at `since` can still be served from the log: `410` exactly when
    /// `since < firstRetained - 1`.
    public func retains(since: Int64) -> Bool { since >= firstRetained - 1 }
}

/// A current file of a workspace. Blobs are stored by `sha256`; `sha1` lets existing clients'
/// moves find content by the hash they know.
public struct FileRecord: Sendable, Hashable {
    public var path: String
    public var sha256: String
    public var sha1: String
    public var size: Int64
    public var mode: UInt32
}

/// One change-log row: an applied bundle.
public struct ChangeRecord: Sendable, Hashable {
    public var sequence: Int64
    public var bundleID: String
    public var bundleSHA256: String
    public var bundleSize: Int64
    public var appliedAt: String
    public var counts: OperationCounts
    public var operations: [ChangeOperation]
    public var processingTimeMs: Double
}

/// A change to the file table.
public enum FileChange: Sendable, Hashable {
    case upsert(FileRecord)
    case delete(path: String)

    public var path: String {
        switch self {
        case .upsert(let record): return record.path
        case .delete(let path): return path
        }
    }
}

/// Everything one bundle writes, committed in one transaction.
public struct BundleCommit: Sendable {
    public var workspace: String
    public var workspacePath: String?
    public var collectionName: String
    /// The sequence this bundle takes; the transaction re-checks it is `last_sequence + 1`.
    public var sequence: Int64
    public var change: ChangeRecord
    public var fileChanges: [FileChange]
}

/// What the commit transaction found.
public enum CommitOutcome: Sendable {
    case committed
    /// The bundle_id was applied meanwhile.
    case duplicate(ChangeRecord)
    /// Another writer moved the sequence meanwhile.
    case sequenceMoved(lastSequence: Int64)
}

/// A bearer token (only its SHA-256 is stored).
public struct TokenRecord: Sendable, Hashable {
    public enum Scope: String, Sendable, Hashable, CaseIterable {
        case read
        case write
        case admin

        /// Whether this scope allows `needed`.
        public func allows(_ needed: Scope) -> Bool {
            switch (self, needed) {
            case (.admin, _): return true
            case (.write, .read), (.write, .write): return true
            case (.read, .read): return true
            default: return false
            }
        }
    }

    public var id: String
    public var hash: String
    /// A workspace key, or `*` for every workspace.
    public var workspace: String
    public var scope: Scope
    public var label: String?
    public var createdAt: String
    /// When `deltasync token revoke` revoked it; a revoked token authorises nothing, but it
    /// still counts as "a token exists", so revoking the last one never opens a loopback server.
    public var revokedAt: String? = nil
}

/// What a bundle's plan needs from the file table (see `FileTableStore.snapshot`).
public struct FileTableQuery: Sendable, Hashable {
    /// Paths whose current record is needed (targets, move sources and their ancestors).
    public var paths: Set<PathKey> = []
    /// Paths below which every current file is needed (targets that must not be directories).
    public var directories: Set<PathKey> = []
    /// Content the bundle moves without carrying it.
    public var hashes: Set<ContentHash> = []

    public init(paths: Set<PathKey> = [], directories: Set<PathKey> = [], hashes: Set<ContentHash> = []) {
        self.paths = paths
        self.directories = directories
        self.hashes = hashes
    }
}

/// The answer to a `FileTableQuery`, from one consistent read.
public struct FileTableSnapshot: Sendable {
    /// Current records of the queried paths that exist, keyed by bytes.
    public var files: [PathKey: FileRecord]
    /// For each queried directory, the paths of the current files strictly below it.
    public var below: [PathKey: [String]]
    /// For each queried hash, one current file holding it.
    public var holders: [ContentHash: FileRecord]

    public init(
        files: [PathKey: FileRecord] = [:], below: [PathKey: [String]] = [:], holders: [ContentHash: FileRecord] = [:]
    ) {
        self.files = files
        self.below = below
        self.holders = holders
    }
}

extension FileTableSnapshot {
    /// What `query` asks of the files in `span`: every current file between two paths, the
    /// ranges of the query's directories included, in path order (`PathKey`'s, which is
    /// `ORDER BY path`'s). Paths of the query outside those two are not answered here.
    init(span: [FileRecord], query: FileTableQuery) {
        self.init()
        let sorted = span.map { (key: PathKey($0.path), record: $0) }
        for (key, record) in sorted where query.paths.contains(key) { files[key] = record }
        for directory in query.directories {
            // The paths that start with "directory/": from "directory/" up to "directory0".
            let low = PathKey(directory.string + "/")
            let high = PathKey(directory.string + "0")
            var index = 0
            var end = sorted.count
            while index < end {
                let middle = (index + end) / 2
                if sorted[middle].key < low { index = middle + 1 } else { end = middle }
            }
            var paths: [String] = []
            while index < sorted.count, sorted[index].key < high {
                paths.append(sorted[index].record.path)
                index += 1
            }
            if !paths.isEmpty { below[directory] = paths }
        }
    }
}

/// A workspace's graph as persisted.
public struct PersistedGraph: Sendable {
    public var modelVersion: Int
    public var indexedSequence: Int64
    /// Facts without symbols (those stay in the database), by path.
    public var files: [(path: String, facts: FileFacts)]
}

/// One indexing step of a workspace's graph.
public struct GraphCommit: Sendable {
    public var workspace: String
    /// Drop the workspace's graph first (a rebuild).
    public var reset: Bool
    /// 0 while a rebuild is written in slices (a restart then rebuilds again).
    public var modelVersion: Int
    /// Nil leaves `indexed_sequence` as it is (a slice of a rebuild).
    public var indexedSequence: Int64?
    /// Files whose facts (with symbols) are new or changed.
    public var upserts: [(path: String, facts: FileFacts)]
    /// Files that are gone or no longer source files.
    public var deletes: [String]
    /// Nil for a slice of a rebuild that is not its last.
    public var record: InvalidationRecord?
}
