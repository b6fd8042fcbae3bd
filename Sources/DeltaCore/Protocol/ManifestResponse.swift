/// One file of the server's current tree.
public struct ManifestFile: Sendable, Hashable, Codable {
    public var path: String
    public var contentHash: ContentHash
    public var sizeBytes: Int64
    public var mode: UInt32

    public init(path: String, contentHash: ContentHash, sizeBytes: Int64, mode: UInt32) {
        self.path = path
        self.contentHash = contentHash
        self.sizeBytes = sizeBytes
        self.mode = mode
    }

    enum CodingKeys: String, CodingKey {
        case path
        case contentHash = "content_hash"
        case sizeBytes = "size_bytes"
        case mode
    }
}

/// `GET /api/v1/delta/manifest`: the full current file list at `sequence`.
public struct ManifestResponse: Sendable, Hashable, Codable {
    public var workspace: String
    public var sequence: Int64
    public var files: [ManifestFile]

    public init(workspace: String, sequence: Int64, files: [ManifestFile]) {
        self.workspace = workspace
        self.sequence = sequence
        self.files = files
    }
}
