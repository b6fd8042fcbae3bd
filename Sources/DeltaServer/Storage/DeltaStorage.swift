public import DeltaCore

/// The server's database: workspaces, current file tables, the change log and tokens.
///
/// SQLite (GRDB, WAL) is the embedded implementation. The sequence and idempotency checks run
/// inside the commit's write transaction, so a shared backend inherits them.
public protocol DeltaStorage: Sendable {
    func workspace(_ key: String) async throws -> WorkspaceRecord?
    func workspaces() async throws -> [WorkspaceRecord]
    func change(workspace: String, bundleID: String) async throws -> ChangeRecord?
    func change(workspace: String, sequence: Int64) async throws -> ChangeRecord?
    /// Changes with `sequence > since`, ascending, at most `limit`.
    func changes(workspace: String, since: Int64, limit: Int) async throws -> [ChangeRecord]
    /// Runs `body` against a consistent snapshot of the workspace's file table.
    func withFileTable<T: Sendable>(
        workspace: String, _ body: @escaping @Sendable (any FileTableReader) throws -> T
    ) async throws -> T
    /// Commits a bundle; re-checks idempotency and sequence inside the write transaction.
    func commit(_ commit: BundleCommit) async throws -> CommitOutcome
    func setMaterializedSequence(workspace: String, sequence: Int64) async throws
    /// The current files and the sequence they are at, from one snapshot.
    func files(workspace: String) async throws -> (sequence: Int64, files: [FileRecord])
    /// The current records of `paths`, keyed by bytes.
    func files(workspace: String, paths: [String]) async throws -> [PathKey: FileRecord]
    func fileCount(workspace: String) async throws -> Int
    /// Whether a current file of the workspace has this SHA-256.
    func holdsContent(workspace: String, sha256: String) async throws -> Bool
    func insertToken(_ token: TokenRecord) async throws
    func token(hash: String) async throws -> TokenRecord?
    func tokenCount() async throws -> Int
    /// A cheap query proving the database answers.
    func healthCheck() async throws
}
