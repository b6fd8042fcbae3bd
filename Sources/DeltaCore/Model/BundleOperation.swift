/// The four kinds of change a bundle carries.
public enum OperationKind: String, Sendable, Hashable, Codable, CaseIterable {
    case created
    case updated
    case deleted
    case moved
}

/// One entry of `metadata/operations.json`.
///
/// Only `operation`, `path`, `source_path`, `content_hash`, `size_bytes` and `mode` drive the
/// server; `previous_hash`, `modified_time` and `language` are advisory and fields existing
/// clients add (`file_hash`, `absolute_path`, …) are ignored.
public struct BundleOperation: Sendable, Hashable, Codable {
    public var operation: OperationKind
    public var path: String
    public var sourcePath: String?
    public var contentHash: ContentHash?
    public var previousHash: String?
    public var sizeBytes: Int64?
    /// POSIX mode bits; only the executable bits matter.
    public var mode: UInt32?
    public var modifiedTime: String?
    public var language: String?

    public init(
        operation: OperationKind, path: String, sourcePath: String? = nil, contentHash: ContentHash? = nil,
        previousHash: String? = nil, sizeBytes: Int64? = nil, mode: UInt32? = nil, modifiedTime: String? = nil,
        language: String? = nil
    ) {
        self.operation = operation
        self.path = path
        self.sourcePath = sourcePath
        self.contentHash = contentHash
        self.previousHash = previousHash
        self.sizeBytes = sizeBytes
        self.mode = mode
        self.modifiedTime = modifiedTime
        self.language = language
    }

    enum CodingKeys: String, CodingKey {
        case operation
        case path
        case sourcePath = "source_path"
        case contentHash = "content_hash"
        case previousHash = "previous_hash"
        case sizeBytes = "size_bytes"
        case mode
        case modifiedTime = "modified_time"
        case language
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(String.self, forKey: .operation)
        guard let operation = OperationKind(rawValue: kind) else {
            throw DeltaError(
                .invalidOperation,
                "unknown operation '\(PathRules.printable(String(kind.prefix(40))))' (expected created, updated, deleted or moved)"
            )
        }
        self.operation = operation
        path = try container.decode(String.self, forKey: .path)
        sourcePath = try container.decodeIfPresent(String.self, forKey: .sourcePath)
        contentHash = try container.decodeIfPresent(String.self, forKey: .contentHash).map {
            try ContentHash(parsing: $0)
        }
        previousHash = (try? container.decodeIfPresent(String.self, forKey: .previousHash)) ?? nil
        sizeBytes = (try? container.decodeIfPresent(JSONValue.self, forKey: .sizeBytes))??.intValue
        switch try? container.decodeIfPresent(JSONValue.self, forKey: .mode) {
        case .int(let value): mode = UInt32(truncatingIfNeeded: value)
        case .string(let text): mode = UInt32(text, radix: 8)
        default: mode = nil
        }
        modifiedTime = (try? container.decodeIfPresent(String.self, forKey: .modifiedTime)) ?? nil
        language = (try? container.decodeIfPresent(String.self, forKey: .language)) ?? nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(operation, forKey: .operation)
        try container.encode(path, forKey: .path)
        try container.encodeIfPresent(sourcePath, forKey: .sourcePath)
        try container.encodeIfPresent(contentHash, forKey: .contentHash)
        try container.encodeIfPresent(previousHash, forKey: .previousHash)
        try container.encodeIfPresent(sizeBytes, forKey: .sizeBytes)
        try container.encodeIfPresent(mode, forKey: .mode)
        try container.encodeIfPresent(modifiedTime, forKey: .modifiedTime)
        try container.encodeIfPresent(language, forKey: .language)
    }
}

/// `metadata/operations.json`.
public struct OperationsDocument: Sendable, Hashable, Codable {
    public var operations: [BundleOperation]
    public init(operations: [BundleOperation]) { self.operations = operations }
}

/// `metadata/hashes.json`.
public struct HashesDocument: Sendable, Hashable, Codable {
    public var workspacePath: String?
    public var updatedAt: String?
    public var fileHashes: [String: String]

    public init(workspacePath: String?, updatedAt: String?, fileHashes: [String: String]) {
        self.workspacePath = workspacePath
        self.updatedAt = updatedAt
        self.fileHashes = fileHashes
    }

    enum CodingKeys: String, CodingKey {
        case workspacePath = "workspace_path"
        case updatedAt = "updated_at"
        case fileHashes = "file_hashes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        workspacePath = (try? container.decodeIfPresent(String.self, forKey: .workspacePath)) ?? nil
        updatedAt = (try? container.decodeIfPresent(String.self, forKey: .updatedAt)) ?? nil
        fileHashes = try container.decodeIfPresent([String: String].self, forKey: .fileHashes) ?? [:]
    }
}
