import GRDB

/// The kind of server the client talks to, learned from `server_info.features`.
public enum ServerKind: String, Sendable, Codable, Hashable {
    /// `deltasync serve`: manifest, bundle-id dedupe, recover and the other extensions.
    case deltasync
    /// A server with only the compatible core (the existing upload service): status and upload.
    /// Another writer's changes are invisible to the client there.
    case compatibleCore = "compatible-core"
}

/// The client's one-row sync record in `state.sqlite` (table `sync_state`): which workspace and
/// server the state belongs to, the last acknowledged sequence and what the next run must do.
public struct SyncState: Sendable, Hashable, Codable {
    /// The server's key for the workspace (its name, or the path for a compatible-core server).
    public var workspaceKey: String?
    public var serverURL: String?
    public var serverKind: ServerKind?
    /// The last sequence the server acknowledged.
    public var ackedSequence: Int64 = 0
    /// The local file table cannot be trusted (lost state, another workspace, a rejected
    /// bundle): the next run reconciles before it detects.
    public var needsResync = false
    /// The next bundles written are uploaded with `force=true` (a compatible-core rebuild).
    public var forceNextBundles = false
    public var lastError: String?
    public var lastPushAt: String?
    /// Something the user should know about the last reconciliation (compatible-core limits).
    public var warning: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case workspaceKey = "workspace_key"
        case serverURL = "server_url"
        case serverKind = "server_kind"
        case ackedSequence = "acked_sequence"
        case needsResync = "needs_resync"
        case forceNextBundles = "force_next_bundles"
        case lastError = "last_error"
        case lastPushAt = "last_push_at"
        case warning
    }

    /// The row, or the defaults when there is none yet.
    static func fetch(_ db: Database) throws -> SyncState {
        var record = SyncState()
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM sync_state WHERE id = 1")) else {
            return record
        }
        record.workspaceKey = row["workspace_key"]
        record.serverURL = row["server_url"]
        record.serverKind = (row["server_kind"] as String?).flatMap(ServerKind.init(rawValue:))
        record.ackedSequence = row["acked_sequence"]
        record.needsResync = row["needs_resync"]
        record.forceNextBundles = row["force_next_bundles"]
        record.lastError = row["last_error"]
        record.lastPushAt = row["last_push_at"]
        record.warning = row["warning"]
        return record
    }

    func save(_ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO sync_state (id, workspace_key, server_url, server_kind, acked_sequence,
                    needs_resync, force_next_bundles, last_error, last_push_at, warning)
                VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                workspaceKey, serverURL, serverKind?.rawValue, ackedSequence, needsResync, forceNextBundles, lastError,
                lastPushAt, warning,
            ]
        )
    }

    /// The v2 table, filled from the v1 `meta` key-value table it replaces.
    static func migrate(from db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE sync_state (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    workspace_key TEXT,
                    server_url TEXT,
                    server_kind TEXT,
                    acked_sequence INTEGER NOT NULL DEFAULT 0,
                    needs_resync INTEGER NOT NULL DEFAULT 0,
                    force_next_bundles INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    last_push_at TEXT,
                    warning TEXT
                );
                INSERT INTO sync_state (id, workspace_key, server_url, acked_sequence, needs_resync, last_error,
                    last_push_at)
                SELECT 1,
                    (SELECT value FROM meta WHERE key = 'workspace_key'),
                    (SELECT value FROM meta WHERE key = 'server'),
                    COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'acked_sequence'), 0),
                    COALESCE((SELECT value = '1' FROM meta WHERE key = 'needs_resync'), 0),
                    (SELECT value FROM meta WHERE key = 'last_error'),
                    (SELECT value FROM meta WHERE key = 'last_push_at');
                DROP TABLE meta;
                ALTER TABLE outbox ADD COLUMN force INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE outbox ADD COLUMN paths TEXT;
                """
        )
    }
}
