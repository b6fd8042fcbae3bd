public import DeltaCore
public import DeltaGraph

/// Workspaces and their change log: the sequence, the commit of a bundle, the feed.
///
/// The sequence and idempotency checks run inside the commit's write transaction, so a shared
/// backend (several server replicas on one database) inherits them.
public protocol WorkspaceLog: Sendable {
    func workspace(_ key: String) async throws -> WorkspaceRecord?
    func workspaces() async throws -> [WorkspaceRecord]
    func change(workspace: String, bundleID: String) async throws -> ChangeRecord?
    func change(workspace: String, sequence: Int64) async throws -> ChangeRecord?
    /// What an upload checks and plans with, read together from one snapshot (one round trip on
    /// a save's way): the workspace, the entry of `bundleID` if it was applied, the bundle id at
    /// the workspace's last sequence, and the file-table rows `files` names — never the whole
    /// table.
    func uploadContext(workspace: String, bundleID: String, files: FileTableQuery) async throws -> UploadContext
    /// Changes with `sequence > since`, ascending, at most `limit`.
    func changes(workspace: String, since: Int64, limit: Int) async throws -> [ChangeRecord]
    /// Commits a bundle — its log entry and its file-table changes in one transaction;
    /// re-checks idempotency and sequence inside it. `blobsDurable` is called inside the
    /// transaction after its writes and before it commits, whatever the outcome: it blocks until
    /// the bundle's blobs are flushed (so the rows are written while the disk syncs, and nothing
    /// is committed before its content is durable); an error from it rolls the commit back.
    func commit(
        _ commit: BundleCommit, blobsDurable: @escaping @Sendable () throws -> Void
    ) async throws -> CommitOutcome
    func setMaterializedSequence(workspace: String, sequence: Int64) async throws
    /// How many bundles were applied at or after `appliedSince` (an RFC 3339 UTC timestamp).
    func changeCount(workspace: String, appliedSince: String) async throws -> Int
    /// Drops the operations of log entries older than `before` (the `bundle_id` index, counts
    /// and sequence stay, so replays are still recognised) and records where the log now
    /// starts. Returns the bundle hashes of the entries compacted now.
    func compact(workspace: String, before: Int64) async throws -> [String]
}

/// What `WorkspaceLog.uploadContext` reads.
public struct UploadContext: Sendable {
    public var workspace: WorkspaceRecord?
    /// The entry of the uploaded bundle's id, when it was applied before (a replay).
    public var existing: ChangeRecord?
    /// The bundle id at `workspace.lastSequence` (nil before the first bundle).
    public var lastBundleID: String?
    /// The answer to the query the upload's operations make.
    public var files: FileTableSnapshot

    public init(
        workspace: WorkspaceRecord?, existing: ChangeRecord?, lastBundleID: String?, files: FileTableSnapshot
    ) {
        self.workspace = workspace
        self.existing = existing
        self.lastBundleID = lastBundleID
        self.files = files
    }
}

/// The current file table of each workspace.
public protocol FileTableStore: Sendable {
    /// The current files and the sequence they are at, from one snapshot.
    func files(workspace: String) async throws -> (sequence: Int64, files: [FileRecord])
    /// Up to `limit` current files whose paths sort after `after` (by bytes), in that order: a
    /// workspace read a page at a time, so its whole table is never in memory at once. Each page
    /// is read as the table is then.
    func files(workspace: String, after: String?, limit: Int) async throws -> [FileRecord]
    /// The current records of `paths`, keyed by bytes.
    func files(workspace: String, paths: [String]) async throws -> [PathKey: FileRecord]
    func fileCount(workspace: String) async throws -> Int
    /// Which of these SHA-256s (hex) some current file of the workspace has.
    func heldContents(workspace: String, among sha256s: [String]) async throws -> Set<String>
    /// Up to `limit` current files stored without a SHA-1 (`FileRecord.sha1` empty: content of
    /// a bundle whose metadata named none).
    func filesWithoutSHA1(workspace: String, limit: Int) async throws -> [FileRecord]
    /// Records the SHA-1 of current files (each still holding the SHA-256 given with it).
    func setSHA1(workspace: String, _ digests: [(path: String, sha256: String, sha1: String)]) async throws
}

extension FileTableStore {
    /// Whether a current file of the workspace has this SHA-256.
    func holdsContent(workspace: String, sha256: String) async throws -> Bool {
        try await heldContents(workspace: workspace, among: [sha256]).contains(sha256)
    }
}

/// Bearer tokens, stored as their SHA-256.
public protocol TokenStore: Sendable {
    func insertToken(_ token: TokenRecord) async throws
    func token(hash: String) async throws -> TokenRecord?
    /// Every token, revoked ones included, oldest first (never the secrets: only their hashes).
    func tokens() async throws -> [TokenRecord]
    /// Marks the token with this id revoked; false when there is none (or it already was).
    func revokeToken(id: String, at: String) async throws -> Bool
    /// Tokens ever created, revoked ones included (auth stays on once one existed).
    func tokenCount() async throws -> Int
}

/// The code graph of each workspace (DESIGN §5): per-file facts and symbols, the invalidation
/// records, and `indexed_sequence`, written together so a restart resumes where indexing stopped.
public protocol GraphStore: Sendable {
    /// The persisted graph: the model version it was built with, its `indexed_sequence`, and
    /// every file's facts without symbols. Nil when the workspace was never indexed.
    func graphFiles(workspace: String) async throws -> PersistedGraph?
    /// One indexing step, in one transaction.
    func commitGraph(_ commit: GraphCommit) async throws
    /// The symbols of these files.
    func symbols(workspace: String, paths: [String]) async throws -> [String: [Symbol]]
    /// Symbols whose name matches `query` exactly, by prefix, then as a substring (case-insensitive).
    func searchSymbols(workspace: String, query: String, limit: Int) async throws -> [GraphSearchResult]
    /// Records with `to_sequence > since`, ascending, at most `limit`.
    func invalidations(workspace: String, since: Int64, limit: Int) async throws -> [InvalidationRecord]
}

/// The server's database, by concern. SQLite (GRDB, WAL) is the embedded implementation; every
/// method is async so a network database (postgres-nio) can implement it as it is.
public protocol DeltaStorage: WorkspaceLog, FileTableStore, TokenStore, GraphStore {
    /// A cheap query proving the database answers.
    func healthCheck() async throws
}
