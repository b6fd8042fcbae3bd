/// Limits and identity the server publishes so clients can split bundles.
public struct ServerInfo: Sendable, Hashable, Codable {
    public var version: String
    public var maxBundleSizeMB: Int64
    public var maxUncompressedBytes: Int64
    public var maxFileBytes: Int64
    public var maxEntries: Int
    public var supportedFormats: [String]

    public init(version: String, limits: BundleLimits) {
        self.version = version
        self.maxBundleSizeMB = limits.maxCompressedBytes >> 20
        self.maxUncompressedBytes = limits.maxUncompressedBytes
        self.maxFileBytes = limits.maxFileBytes
        self.maxEntries = limits.maxEntries
        self.supportedFormats = ["tar.gz"]
    }

    enum CodingKeys: String, CodingKey {
        case version
        case maxBundleSizeMB = "max_bundle_size_mb"
        case maxUncompressedBytes = "max_uncompressed_bytes"
        case maxFileBytes = "max_file_bytes"
        case maxEntries = "max_entries"
        case supportedFormats = "supported_formats"
    }
}

/// `GET /api/v1/delta/status`.
public struct StatusResponse: Sendable, Hashable, Codable {
    public var success: Bool
    public var workspace: String
    public var workspacePath: String?
    public var collectionName: String
    public var lastSequence: Int64
    public var lastUpload: String?
    public var pendingOperations: Int
    public var indexedSequence: Int64
    public var indexStatus: String
    public var status: String
    public var fileCount: Int
    public var serverInfo: ServerInfo
    /// Why the workspace is read-only (`status` is then `"degraded"`); absent when healthy.
    public var degradedReason: String?

    public init(
        workspace: String, workspacePath: String?, collectionName: String, lastSequence: Int64, lastUpload: String?,
        pendingOperations: Int, indexedSequence: Int64, indexStatus: String, status: String, fileCount: Int,
        serverInfo: ServerInfo
    ) {
        self.success = true
        self.workspace = workspace
        self.workspacePath = workspacePath
        self.collectionName = collectionName
        self.lastSequence = lastSequence
        self.lastUpload = lastUpload
        self.pendingOperations = pendingOperations
        self.indexedSequence = indexedSequence
        self.indexStatus = indexStatus
        self.status = status
        self.fileCount = fileCount
        self.serverInfo = serverInfo
    }

    enum CodingKeys: String, CodingKey {
        case success
        case workspace
        case workspacePath = "workspace_path"
        case collectionName = "collection_name"
        case lastSequence = "last_sequence"
        case lastUpload = "last_upload"
        case pendingOperations = "pending_operations"
        case indexedSequence = "indexed_sequence"
        case indexStatus = "index_status"
        case status
        case fileCount = "file_count"
        case serverInfo = "server_info"
        case degradedReason = "degraded_reason"
    }

    /// Existing servers send `null` for absent fields; keep `last_upload` explicit.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(success, forKey: .success)
        try container.encode(workspace, forKey: .workspace)
        try container.encode(workspacePath, forKey: .workspacePath)
        try container.encode(collectionName, forKey: .collectionName)
        try container.encode(lastSequence, forKey: .lastSequence)
        try container.encode(lastUpload, forKey: .lastUpload)
        try container.encode(pendingOperations, forKey: .pendingOperations)
        try container.encode(indexedSequence, forKey: .indexedSequence)
        try container.encode(indexStatus, forKey: .indexStatus)
        try container.encode(status, forKey: .status)
        try container.encode(fileCount, forKey: .fileCount)
        try container.encode(serverInfo, forKey: .serverInfo)
        try container.encodeIfPresent(degradedReason, forKey: .degradedReason)
    }
}
