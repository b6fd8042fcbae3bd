/// One operation as the change log records it (hashes are the server's `sha256:`).
public struct ChangeOperation: Sendable, Hashable, Codable {
    public var operation: OperationKind
    public var path: String
    public var sourcePath: String?
    public var contentHash: ContentHash?
    public var sizeBytes: Int64?
    /// `0o755` or `0o644` for the file the operation leaves (absent for deletes and for log
    /// entries written before modes were logged).
    public var mode: UInt32?

    public init(
        operation: OperationKind, path: String, sourcePath: String?, contentHash: ContentHash?, sizeBytes: Int64?,
        mode: UInt32? = nil
    ) {
        self.operation = operation
        self.path = path
        self.sourcePath = sourcePath
        self.contentHash = contentHash
        self.sizeBytes = sizeBytes
        self.mode = mode
    }

    enum CodingKeys: String, CodingKey {
        case operation
        case path
        case sourcePath = "source_path"
        case contentHash = "content_hash"
        case sizeBytes = "size_bytes"
        case mode
    }
}

/// One applied bundle in the change log.
public struct ChangeEntry: Sendable, Hashable, Codable {
    public var sequence: Int64
    public var bundleID: String
    public var appliedAt: String
    public var operations: [ChangeOperation]

    public init(sequence: Int64, bundleID: String, appliedAt: String, operations: [ChangeOperation]) {
        self.sequence = sequence
        self.bundleID = bundleID
        self.appliedAt = appliedAt
        self.operations = operations
    }

    enum CodingKeys: String, CodingKey {
        case sequence
        case bundleID = "bundle_id"
        case appliedAt = "applied_at"
        case operations
    }
}

/// `GET /api/v1/delta/changes`.
public struct ChangesResponse: Sendable, Hashable, Codable {
    public var workspace: String
    public var changes: [ChangeEntry]
    public var lastSequence: Int64
    public var hasMore: Bool
    public var delta: Bool

    public init(workspace: String, changes: [ChangeEntry], lastSequence: Int64, hasMore: Bool) {
        self.workspace = workspace
        self.changes = changes
        self.lastSequence = lastSequence
        self.hasMore = hasMore
        self.delta = true
    }

    enum CodingKeys: String, CodingKey {
        case workspace
        case changes
        case lastSequence = "last_sequence"
        case hasMore = "has_more"
        case delta
    }
}

/// `POST /api/v1/delta/recover` request and reply.
public struct RecoverRequest: Sendable, Hashable, Codable {
    public var workspacePath: String?
    public var workspace: String?
    public var fromSequence: Int64
    public var toSequence: Int64?

    public init(workspacePath: String?, workspace: String?, fromSequence: Int64, toSequence: Int64?) {
        self.workspacePath = workspacePath
        self.workspace = workspace
        self.fromSequence = fromSequence
        self.toSequence = toSequence
    }

    enum CodingKeys: String, CodingKey {
        case workspacePath = "workspace_path"
        case workspace
        case fromSequence = "from_sequence"
        case toSequence = "to_sequence"
    }
}

public struct RecoverResponse: Sendable, Hashable, Codable {
    public struct Bundle: Sendable, Hashable, Codable {
        public var sequence: Int64
        public var bundleID: String
        public var operations: OperationCounts

        public init(sequence: Int64, bundleID: String, operations: OperationCounts) {
            self.sequence = sequence
            self.bundleID = bundleID
            self.operations = operations
        }

        enum CodingKeys: String, CodingKey {
            case sequence
            case bundleID = "bundle_id"
            case operations
        }
    }

    public var success: Bool
    public var workspace: String
    public var recoveredBundles: [Bundle]
    public var nextSequence: Int64

    public init(workspace: String, recoveredBundles: [Bundle], nextSequence: Int64) {
        self.success = true
        self.workspace = workspace
        self.recoveredBundles = recoveredBundles
        self.nextSequence = nextSequence
    }

    enum CodingKeys: String, CodingKey {
        case success
        case workspace
        case recoveredBundles = "recovered_bundles"
        case nextSequence = "next_sequence"
    }
}
