/// Where a push is, for progress displays.
public struct PushProgress: Sendable {
    public enum Phase: String, Sendable {
        case connecting, scanning, hashing, bundling, uploading, done
    }

    public var phase: Phase = .connecting
    public var filesScanned = 0
    public var filesToHash = 0
    public var bytesHashed: Int64 = 0
    public var bundlesTotal = 0
    public var bundlesSent = 0
    public var bytesToSend: Int64 = 0
    public var bytesSent: Int64 = 0
    /// A retry in progress, for display.
    public var retryMessage: String?

    public init() {}
}

/// What a push did.
public struct PushReport: Sendable, Codable {
    public var workspace: String = ""
    public var created = 0
    public var updated = 0
    public var deleted = 0
    public var moved = 0
    public var filesScanned = 0
    public var filesHashed = 0
    public var skipped: [SkippedFile] = []
    public var bundles = 0
    public var bytesSent: Int64 = 0
    public var sequence: Int64 = 0
    /// Whether the client reconciled against the server's manifest (lost state, another writer).
    public var resynced = false
    /// The kind of server pushed to.
    public var serverKind: ServerKind = .deltasync
    public var durationMilliseconds: Double = 0
    /// Answered by a `deltasync watch` running on the same directory (it had already sent
    /// everything): nothing was scanned by this process.
    public var viaWatch = false
    /// Every directory and file had the stat the last full scan saw (`TreeSnapshot`): nothing
    /// was listed, read or hashed.
    public var unchangedSinceSnapshot = false
    /// Only files edited in place differed from the `TreeSnapshot` (no directory changed): only
    /// they were read.
    public var changedSinceSnapshot = false

    public struct SkippedFile: Sendable, Codable, Hashable {
        public var path: String
        public var reason: String
    }

    enum CodingKeys: String, CodingKey {
        case workspace, created, updated, deleted, moved, skipped, bundles, sequence, resynced
        case filesScanned = "files_scanned"
        case filesHashed = "files_hashed"
        case bytesSent = "bytes_sent"
        case durationMilliseconds = "duration_ms"
        case serverKind = "server_kind"
        case viaWatch = "via_watch"
        case unchangedSinceSnapshot = "unchanged_since_snapshot"
        case changedSinceSnapshot = "changed_since_snapshot"
    }
}
