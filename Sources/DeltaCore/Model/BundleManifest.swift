/// `manifest.json` at the root of a bundle (format `version: "1.0"`).
///
/// Existing clients fill several fields loosely (`sequence_number: null`, odd timestamps), so
/// everything but `version` and `bundle_id` is optional when decoding.
public struct BundleManifest: Sendable, Hashable, Codable {
    public static let currentVersion = "1.0"

    public var version: String
    public var bundleID: String
    public var workspacePath: String?
    public var collectionName: String?
    public var createdAt: String?
    public var sequenceNumber: Int64?
    public var parentSequence: Int64?
    public var operations: OperationCounts?
    public var totalFiles: Int?
    public var totalSizeBytes: Int64?
    public var compression: String?
    public var encoding: String?

    public init(
        bundleID: String, workspacePath: String?, collectionName: String?, createdAt: String,
        sequenceNumber: Int64?, parentSequence: Int64?, operations: OperationCounts, totalFiles: Int,
        totalSizeBytes: Int64
    ) {
        self.version = Self.currentVersion
        self.bundleID = bundleID
        self.workspacePath = workspacePath
        self.collectionName = collectionName
        self.createdAt = createdAt
        self.sequenceNumber = sequenceNumber
        self.parentSequence = parentSequence
        self.operations = operations
        self.totalFiles = totalFiles
        self.totalSizeBytes = totalSizeBytes
        self.compression = "gzip"
        self.encoding = "utf-8"
    }

    enum CodingKeys: String, CodingKey {
        case version
        case bundleID = "bundle_id"
        case workspacePath = "workspace_path"
        case collectionName = "collection_name"
        case createdAt = "created_at"
        case sequenceNumber = "sequence_number"
        case parentSequence = "parent_sequence"
        case operations
        case totalFiles = "total_files"
        case totalSizeBytes = "total_size_bytes"
        case compression
        case encoding
    }

    /// Every key of the format, `null` where unknown: the existing upload service refuses a
    /// manifest without `sequence_number` or `parent_sequence`, and accepts `null` in them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(bundleID, forKey: .bundleID)
        try container.encode(workspacePath, forKey: .workspacePath)
        try container.encode(collectionName, forKey: .collectionName)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(sequenceNumber, forKey: .sequenceNumber)
        try container.encode(parentSequence, forKey: .parentSequence)
        try container.encode(operations, forKey: .operations)
        try container.encode(totalFiles, forKey: .totalFiles)
        try container.encode(totalSizeBytes, forKey: .totalSizeBytes)
        try container.encode(compression, forKey: .compression)
        try container.encode(encoding, forKey: .encoding)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(String.self, forKey: .version)
        bundleID = try container.decode(String.self, forKey: .bundleID)
        workspacePath = try? container.decodeIfPresent(String.self, forKey: .workspacePath)
        collectionName = try? container.decodeIfPresent(String.self, forKey: .collectionName)
        createdAt = try? container.decodeIfPresent(String.self, forKey: .createdAt)
        sequenceNumber = (try? container.decodeIfPresent(JSONValue.self, forKey: .sequenceNumber))??.intValue
        parentSequence = (try? container.decodeIfPresent(JSONValue.self, forKey: .parentSequence))??.intValue
        operations = try? container.decodeIfPresent(OperationCounts.self, forKey: .operations)
        totalFiles = try? container.decodeIfPresent(Int.self, forKey: .totalFiles)
        totalSizeBytes = try? container.decodeIfPresent(Int64.self, forKey: .totalSizeBytes)
        compression = try? container.decodeIfPresent(String.self, forKey: .compression)
        encoding = try? container.decodeIfPresent(String.self, forKey: .encoding)
    }
}

/// Operation counts, as in the manifest and in `processed_operations`.
public struct OperationCounts: Sendable, Hashable, Codable {
    public var created: Int
    public var updated: Int
    public var deleted: Int
    public var moved: Int
    public var skipped: Int?
    public var failed: Int?

    public init(
        created: Int = 0, updated: Int = 0, deleted: Int = 0, moved: Int = 0, skipped: Int? = nil, failed: Int? = nil
    ) {
        self.created = created
        self.updated = updated
        self.deleted = deleted
        self.moved = moved
        self.skipped = skipped
        self.failed = failed
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        created = (try? container.decodeIfPresent(Int.self, forKey: .created)) ?? 0
        updated = (try? container.decodeIfPresent(Int.self, forKey: .updated)) ?? 0
        deleted = (try? container.decodeIfPresent(Int.self, forKey: .deleted)) ?? 0
        moved = (try? container.decodeIfPresent(Int.self, forKey: .moved)) ?? 0
        skipped = try? container.decodeIfPresent(Int.self, forKey: .skipped)
        failed = try? container.decodeIfPresent(Int.self, forKey: .failed)
    }

    public mutating func count(_ kind: OperationKind) {
        switch kind {
        case .created: created += 1
        case .updated: updated += 1
        case .deleted: deleted += 1
        case .moved: moved += 1
        }
    }
}
