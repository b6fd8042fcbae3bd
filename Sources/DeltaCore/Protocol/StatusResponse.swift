/// Limits and identity the server publishes so clients can split bundles.
public struct ServerInfo: Sendable, Hashable, Codable {
    public var version: String
    public var maxBundleSizeMB: Int64
    public var maxUncompressedBytes: Int64
    public var maxFileBytes: Int64
    public var maxEntries: Int
    public var supportedFormats: [String]
    /// Our extensions this server offers; `nil` (absent) means a compatible-core server (the
    /// existing upload service), which has none of them.
    public var features: [String]?
    /// How many uploads the server receives or applies at once over all workspaces
    /// (`--max-concurrent-uploads`; more get `503 SERVER_BUSY`): our client keeps no more than
    /// this many in flight. Absent from servers before it, and from the existing service.
    public var maxConcurrentUploads: Int?

    /// The extensions of this version of `deltasync serve`.
    public static let deltaSyncFeatures = [
        "manifest", "bundles", "changes", "blobs", "bundle_id", "recover", "stream", "workspaces", "session",
    ]

    public init(
        version: String, limits: BundleLimits, features: [String]? = Self.deltaSyncFeatures,
        maxConcurrentUploads: Int? = nil
    ) {
        self.version = version
        self.maxBundleSizeMB = limits.maxCompressedBytes >> 20
        self.maxUncompressedBytes = limits.maxUncompressedBytes
        self.maxFileBytes = limits.maxFileBytes
        self.maxEntries = limits.maxEntries
        self.supportedFormats = features == nil ? [BundleFormat.tarGz.rawValue] : BundleFormat.served
        self.features = features
        self.maxConcurrentUploads = maxConcurrentUploads
    }

    /// Whether the server offers our extensions (otherwise: compatible core only).
    public var isDeltaSync: Bool { features != nil }

    /// The limits to split bundles by; what the server leaves out is the existing service's
    /// default (100 MiB compressed) or ours.
    public var limits: BundleLimits {
        BundleLimits(
            maxCompressedBytes: maxBundleSizeMB << 20, maxUncompressedBytes: maxUncompressedBytes,
            maxFileBytes: maxFileBytes, maxEntries: maxEntries)
    }

    /// Only what the compatible core guarantees is required; every other field has a default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = BundleLimits()
        func number<T: FixedWidthInteger & Decodable>(_ key: CodingKeys, _ fallback: T, range: ClosedRange<T>) -> T {
            guard let value = (try? container.decodeIfPresent(T.self, forKey: key)) ?? nil, range.contains(value)
            else { return fallback }
            return value
        }
        version = (try? container.decodeIfPresent(String.self, forKey: .version)) ?? nil ?? "unknown"
        maxBundleSizeMB = number(.maxBundleSizeMB, defaults.maxCompressedBytes >> 20, range: 1...(1 << 20))
        maxUncompressedBytes = number(.maxUncompressedBytes, defaults.maxUncompressedBytes, range: 1...(1 << 50))
        maxFileBytes = number(.maxFileBytes, defaults.maxFileBytes, range: 1...(1 << 50))
        maxEntries = number(.maxEntries, defaults.maxEntries, range: 1...100_000_000)
        supportedFormats =
            (try? container.decodeIfPresent([String].self, forKey: .supportedFormats)) ?? nil ?? ["tar.gz"]
        features = (try? container.decodeIfPresent([String].self, forKey: .features)) ?? nil
        maxConcurrentUploads =
            ((try? container.decodeIfPresent(Int.self, forKey: .maxConcurrentUploads)) ?? nil).flatMap {
                (1...1_000_000).contains($0) ? $0 : nil
            }
    }

    enum CodingKeys: String, CodingKey {
        case version
        case maxBundleSizeMB = "max_bundle_size_mb"
        case maxUncompressedBytes = "max_uncompressed_bytes"
        case maxFileBytes = "max_file_bytes"
        case maxEntries = "max_entries"
        case supportedFormats = "supported_formats"
        case features
        case maxConcurrentUploads = "max_concurrent_uploads"
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

    /// Only `last_sequence` is required (the compatible core guarantees no more); every other
    /// field has a default: `status` "ready", counts 0, `index_status` "none", the existing
    /// service's limits.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func optional<T: Decodable>(_ type: T.Type, _ key: CodingKeys) -> T? {
            (try? container.decodeIfPresent(type, forKey: key)) ?? nil
        }
        lastSequence = try container.decode(Int64.self, forKey: .lastSequence)
        success = optional(Bool.self, .success) ?? true
        workspace = optional(String.self, .workspace) ?? ""
        workspacePath = optional(String.self, .workspacePath)
        collectionName = optional(String.self, .collectionName) ?? ""
        lastUpload = optional(String.self, .lastUpload)
        pendingOperations = optional(Int.self, .pendingOperations) ?? 0
        indexedSequence = optional(Int64.self, .indexedSequence) ?? 0
        indexStatus = optional(String.self, .indexStatus) ?? "none"
        status = optional(String.self, .status) ?? "ready"
        fileCount = optional(Int.self, .fileCount) ?? 0
        serverInfo =
            optional(ServerInfo.self, .serverInfo)
            ?? ServerInfo(version: "unknown", limits: BundleLimits(), features: nil)
        degradedReason = optional(String.self, .degradedReason)
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
