public import DeltaCore

/// A workspace row.
public struct WorkspaceRecord: Sendable, Hashable {
    public var key: String
    public var workspacePath: String?
    public var collectionName: String
    public var lastSequence: Int64
    public var lastUpload: String?
    public var materializedSequence: Int64
    public var indexedSequence: Int64
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
}

/// Read access to one workspace's file table at a consistent point, for planning a bundle.
public protocol FileTableReader {
    func file(at path: String) throws -> FileRecord?
    /// Paths of files strictly below `directory`.
    func filePaths(under directory: String) throws -> [String]
    /// A current file whose content has `hash` (SHA-1 or SHA-256), if any.
    func file(withHash hash: ContentHash) throws -> FileRecord?
}
