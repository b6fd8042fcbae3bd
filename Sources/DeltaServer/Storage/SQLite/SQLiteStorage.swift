public import DeltaCore
import Foundation
import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// `DeltaStorage` on SQLite through GRDB: one `DatabasePool` in WAL mode, migrations by
/// `DatabaseMigrator`, writes in `BEGIN IMMEDIATE` transactions.
public final class SQLiteStorage: DeltaStorage {
    let pool: DatabasePool
    /// Checkpoints the log after commits, off the committing thread.
    let checkpointer: WALCheckpointer

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            // A success reply promises durability: in WAL mode FULL syncs the log at each commit.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The readers' page caches (the writer's is set below): each reads a page of the file
            // table or a step's symbols at a time, from the kernel's cache as fast, and five
            // connections at SQLite's default of 2 MiB held 8 MiB of the server's memory.
            try db.execute(sql: "PRAGMA cache_size = \(-Self.readerCacheKiB)")
        }
        // `serve` and `token create` may open a new database at the same moment: one migrates at a time.
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw DeltaError.posix("open", path + ".lock") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DeltaError.posix("flock", path + ".lock") }
        }
        // Created 0600 whatever the umask; SQLite gives the -wal and -shm files the same mode.
        let database = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard database >= 0 else { throw DeltaError.posix("open", path) }
        fchmod(database, 0o600)
        close(database)
        pool = try DatabasePool(path: path, configuration: configuration)
        // Again on the writer: opening a pool turns WAL mode on and, with it, `synchronous =
        // NORMAL` (GRDB's choice), after `prepareDatabase` ran; NORMAL syncs the log only at
        // checkpoints, so a power loss could take commits already answered with success.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.backstopPages)")
            try db.execute(sql: "PRAGMA cache_size = \(-Self.writerCacheKiB)")
        }
        try Self.migrator.migrate(pool)
        checkpointer = try WALCheckpointer(path: path)
    }

    /// The writer's page cache, in KiB (SQLite's default is 2,000 on every connection). A first
    /// push's commits change pages all over the two hash indexes, about 2 MB each by 100,000
    /// files: with the default the writer spilled them to the log mid-commit and read most of
    /// them back at each commit (a first push of synthetic-100k read 290 MB from the log; 120 MB
    /// with 4 MiB, 90 MB with 8 MiB, which also raised the server's peak by 6 MiB).
    static let writerCacheKiB = 4_096
    static let readerCacheKiB = 256
    /// The writer's page cache while it commits a step of the code graph: a rebuild's commits
    /// append (files, then symbols, in path order), and the name index is made once at its end,
    /// which SQLite sorts in runs of about this size. With the writer's usual bound (the cache a
    /// first push had filled stayed, and the sort used it) the server's peak after pushing and
    /// indexing the linux tree was 4 MiB higher, reached at the end of the build, when the graph
    /// is at its largest.
    static let graphCacheKiB = 512

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE workspace (
                        key TEXT PRIMARY KEY NOT NULL,
                        workspace_path TEXT,
                        collection_name TEXT NOT NULL,
                        last_sequence INTEGER NOT NULL DEFAULT 0,
                        last_upload TEXT,
                        materialized_sequence INTEGER NOT NULL DEFAULT 0,
                        indexed_sequence INTEGER NOT NULL DEFAULT 0,
                        created_at TEXT NOT NULL
                    );
                    CREATE TABLE file (
                        workspace TEXT NOT NULL,
                        path TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        sha1 TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        mode INTEGER NOT NULL,
                        sequence INTEGER NOT NULL,
                        PRIMARY KEY (workspace, path)
                    ) WITHOUT ROWID;
                    CREATE INDEX file_by_sha256 ON file(workspace, sha256);
                    CREATE INDEX file_by_sha1 ON file(workspace, sha1);
                    CREATE TABLE change (
                        workspace TEXT NOT NULL,
                        sequence INTEGER NOT NULL,
                        bundle_id TEXT NOT NULL,
                        bundle_sha256 TEXT NOT NULL,
                        bundle_size INTEGER NOT NULL,
                        applied_at TEXT NOT NULL,
                        counts TEXT NOT NULL,
                        operations TEXT NOT NULL,
                        processing_time_ms REAL NOT NULL,
                        PRIMARY KEY (workspace, sequence)
                    );
                    CREATE UNIQUE INDEX change_by_bundle ON change(workspace, bundle_id);
                    CREATE TABLE token (
                        id TEXT PRIMARY KEY NOT NULL,
                        hash TEXT NOT NULL UNIQUE,
                        workspace TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        label TEXT,
                        created_at TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v2-retention") { db in
            try db.execute(sql: "ALTER TABLE workspace ADD COLUMN first_retained INTEGER NOT NULL DEFAULT 1")
        }
        migrator.registerMigration("v3-token-revocation") { db in
            try db.execute(sql: "ALTER TABLE token ADD COLUMN revoked_at TEXT")
        }
        migrator.registerMigration("v4-graph") { db in
            try db.execute(
                sql: """
                    CREATE TABLE graph_workspace (
                        workspace TEXT PRIMARY KEY NOT NULL,
                        model_version INTEGER NOT NULL
                    );
                    CREATE TABLE graph_file (
                        id INTEGER PRIMARY KEY,
                        workspace TEXT NOT NULL,
                        path TEXT NOT NULL,
                        language TEXT NOT NULL,
                        fingerprint TEXT NOT NULL,
                        package TEXT,
                        imports BLOB NOT NULL,
                        UNIQUE (workspace, path)
                    );
                    CREATE TABLE graph_symbol (
                        file INTEGER NOT NULL,
                        line INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        signature TEXT NOT NULL,
                        exported INTEGER NOT NULL
                    );
                    CREATE INDEX graph_symbol_by_file ON graph_symbol(file);
                    CREATE INDEX graph_symbol_by_name ON graph_symbol(name COLLATE NOCASE);
                    CREATE TABLE graph_record (
                        workspace TEXT NOT NULL,
                        to_sequence INTEGER NOT NULL,
                        body BLOB NOT NULL,
                        PRIMARY KEY (workspace, to_sequence)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v5-file-hash-keys") { db in
            // The file table becomes a rowid table whose hash indexes hold a 64-bit key and the
            // rowid: see `hashKey`. Rows are copied in path order, as a first push inserts them.
            db.add(function: hashKeyFunction)
            defer { db.remove(function: hashKeyFunction) }
            try db.execute(
                sql: """
                    CREATE TABLE file_keyed (
                        id INTEGER PRIMARY KEY,
                        workspace TEXT NOT NULL,
                        path TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        sha1 TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        mode INTEGER NOT NULL,
                        sequence INTEGER NOT NULL,
                        sha256_key INTEGER NOT NULL,
                        sha1_key INTEGER NOT NULL
                    );
                    INSERT INTO file_keyed (workspace, path, sha256, sha1, size, mode, sequence, sha256_key, sha1_key)
                        SELECT workspace, path, sha256, sha1, size, mode, sequence,
                            deltasync_hash_key(sha256), deltasync_hash_key(sha1)
                        FROM file ORDER BY workspace, path;
                    DROP TABLE file;
                    ALTER TABLE file_keyed RENAME TO file;
                    CREATE UNIQUE INDEX file_by_path ON file(workspace, path);
                    CREATE INDEX file_by_sha256_key ON file(workspace, sha256_key);
                    CREATE INDEX file_by_sha1_key ON file(workspace, sha1_key);
                    """
            )
        }
        migrator.registerMigration("v6-workspace-hash-keys") { db in
            // The keys take in the workspace (`hashKey(_:workspace:)`) and the indexes hold the
            // key and the rowid only, no longer the workspace's name: see `hashKey`.
            db.add(function: workspaceHashKeyFunction)
            defer { db.remove(function: workspaceHashKeyFunction) }
            try db.execute(
                sql: """
                    DROP INDEX file_by_sha256_key;
                    DROP INDEX file_by_sha1_key;
                    UPDATE file SET
                        sha256_key = deltasync_workspace_hash_key(sha256, workspace),
                        sha1_key = deltasync_workspace_hash_key(sha1, workspace);
                    CREATE INDEX file_by_sha256_key ON file(sha256_key);
                    CREATE INDEX file_by_sha1_key ON file(sha1_key);
                    """
            )
        }
        return migrator
    }

    /// The first 64 bits of a hex digest, as a signed integer: what a hash's index key takes
    /// from the digest (the v5 keys were this alone; `hashKey(_:workspace:)` mixes in the
    /// workspace). With hex digests in the indexes an entry was over 100 bytes, and a first
    /// push's random hashes, which dirty nearly every page of the hash indexes at each commit,
    /// wrote about 12 MB of log per 16 MiB bundle by the end of 100,000 files. Distinct hashes
    /// may share a key, so every lookup also compares the whole digest.
    static func hashKey(_ hex: String) -> Int64 {
        var value: UInt64 = 0
        for byte in hex.utf8.prefix(16) {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            // Never in a checked digest; any stable value keeps the index complete.
            default: digit = byte & 0x0f
            }
            value = value << 4 | UInt64(digit)
        }
        return Int64(bitPattern: value)
    }

    /// The key a file's content hash is indexed by: `hashKey` of the digest mixed with the
    /// workspace (`workspaceSalt`), so that the same content in two workspaces has two keys and
    /// the index need not hold the workspace's name. An entry of the hash indexes is then the
    /// key and the rowid, about 14 bytes, where the workspace's name made it about 45: a first
    /// push's random hashes dirty nearly every page of both indexes at each commit, and with the
    /// name that was about 9 MB of log per commit by the end of 100,000 files (510 MB of the
    /// push's log writes and 215 MB of checkpoint writes, as much again as the files' content).
    /// Every lookup still compares the workspace and the whole digest.
    static func hashKey(_ hex: String, workspace: String) -> Int64 {
        hashKey(hex, salt: workspaceSalt(workspace))
    }

    /// `hashKey(_:workspace:)` with the workspace's salt worked out once (a commit keys two
    /// hashes a file).
    static func hashKey(_ hex: String, salt: UInt64) -> Int64 {
        Int64(bitPattern: UInt64(bitPattern: hashKey(hex)) ^ salt)
    }

    /// A stable 64-bit hash of a workspace key (FNV-1a, then SplitMix64's finaliser): the same
    /// in every process and version, as it is stored in the keys.
    static func workspaceSalt(_ workspace: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in workspace.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        return hash ^ (hash >> 31)
    }

    /// `hashKey(_:workspace:)` in SQL, for the migration that mixes the workspace into the keys.
    private static let workspaceHashKeyFunction = DatabaseFunction(
        "deltasync_workspace_hash_key", argumentCount: 2, pure: true
    ) { values in
        guard let hex = String.fromDatabaseValue(values[0]), let workspace = String.fromDatabaseValue(values[1])
        else { return nil }
        return hashKey(hex, workspace: workspace)
    }

    /// `hashKey` in SQL, for the migration that adds the keys to existing rows.
    private static let hashKeyFunction = DatabaseFunction("deltasync_hash_key", argumentCount: 1, pure: true) {
        values in
        guard let hex = String.fromDatabaseValue(values[0]) else { return nil }
        return hashKey(hex)
    }

    // MARK: - Workspaces and changes

    public func workspace(_ key: String) async throws -> WorkspaceRecord? {
        try await pool.read { db in try Self.workspace(db, key) }
    }

    public func workspaces() async throws -> [WorkspaceRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM workspace ORDER BY key").map(Self.workspace(row:))
        }
    }

    public func change(workspace: String, bundleID: String) async throws -> ChangeRecord? {
        try await pool.read { db in try Self.change(db, workspace: workspace, bundleID: bundleID) }
    }

    /// The log entry of `bundleID`, when it was applied (the replay check of every upload).
    private static func change(_ db: Database, workspace: String, bundleID: String) throws -> ChangeRecord? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM change WHERE workspace = ? AND bundle_id = ?"),
            arguments: [workspace, bundleID]
        ).map(Self.change(row:))
    }

    /// Queries of at most this many paths and hashes, and no directory, are read on the calling
    /// thread: a save's few indexed lookups take less than the hop to a reader's queue and back.
    static let inlineQueryLimit = 64

    public func uploadContext(workspace key: String, bundleID: String, files query: FileTableQuery) async throws
        -> UploadContext
    {
        if query.directories.isEmpty, query.paths.count + query.hashes.count <= Self.inlineQueryLimit {
            return try readInline { db in try Self.uploadContext(db, key, bundleID, query) }
        }
        return try await pool.read { db in try Self.uploadContext(db, key, bundleID, query) }
    }

    /// A read on the calling thread, for lookups of a few rows only, and without a transaction
    /// around its statements (GRDB's `unsafeRead`: `BEGIN` and `COMMIT`, parsed each time, were
    /// a good part of a save's reads). Each statement sees the newest commit, which is all these
    /// need: the token count is one statement, and an upload's context is read under its
    /// workspace's lock, so no commit to that workspace's log or files lands between them (its
    /// commit checks the sequence again inside its transaction).
    private func readInline<T>(_ body: (Database) throws -> T) throws -> T { try pool.unsafeRead(body) }

    private static func uploadContext(_ db: Database, _ key: String, _ bundleID: String, _ query: FileTableQuery) throws
        -> UploadContext
    {
        let workspace = try Self.workspace(db, key)
        let existing = try change(db, workspace: key, bundleID: bundleID)
        let last = workspace?.lastSequence ?? 0
        let lastBundleID =
            last == 0
            ? nil
            : try String.fetchOne(
                db.cachedStatement(sql: "SELECT bundle_id FROM change WHERE workspace = ? AND sequence = ?"),
                arguments: [key, last])
        return UploadContext(
            workspace: workspace, existing: existing, lastBundleID: lastBundleID,
            files: try snapshot(db, workspace: key, for: query))
    }

    public func change(workspace: String, sequence: Int64) async throws -> ChangeRecord? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM change WHERE workspace = ? AND sequence = ?", arguments: [workspace, sequence]
            ).map(Self.change(row:))
        }
    }

    public func changes(workspace: String, since: Int64, limit: Int) async throws -> [ChangeRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM change WHERE workspace = ? AND sequence > ? ORDER BY sequence LIMIT ?",
                arguments: [workspace, since, limit]
            ).map(Self.change(row:))
        }
    }

    private static func snapshot(_ db: Database, workspace: String, for query: FileTableQuery) throws
        -> FileTableSnapshot
    {
        let table = SQLiteFileTable(db: db, workspace: workspace)
        var snapshot = try spanned(table, query) ?? pathByPath(table, query)
        for hash in query.hashes {
            if let record = try table.file(withHash: hash) { snapshot.holders[hash] = record }
        }
        return snapshot
    }

    /// The paths and directories of `query`, one lookup each.
    static func pathByPath(_ table: SQLiteFileTable, _ query: FileTableQuery) throws -> FileTableSnapshot {
        var snapshot = FileTableSnapshot()
        try table.files(at: query.paths, into: &snapshot.files)
        for directory in query.directories {
            let below = try table.filePaths(under: directory.string)
            if !below.isEmpty { snapshot.below[directory] = below }
        }
        return snapshot
    }

    /// A bundle's paths are sorted and near one another: the rows from its first target to
    /// its last answer every directory of `query` and each of its paths in that span with one
    /// scan, when there are few of them (a first push's bundle finds none). Other paths (the
    /// targets' parents, which sort before files committed earlier) are looked up one by one.
    /// Nil when the span holds more than a few rows per target (a bundle touching both ends of
    /// a large tree): then path by path. One lookup per path and per directory cost a first
    /// push of 100,000 files about 40 ms per bundle of 1,750 files, inside the workspace's lock.
    static func spanned(_ table: SQLiteFileTable, _ query: FileTableQuery) throws -> FileTableSnapshot? {
        // A directory's files run from "directory/" to "directory0", past later targets below it.
        guard let low = query.directories.min(),
            let high = query.directories.lazy.map({ PathKey($0.string + "0") }).max()
        else { return nil }
        let limit = 4 * query.directories.count + 64
        let rows = try table.files(from: low.string, through: high.string, limit: limit + 1)
        guard rows.count <= limit else { return nil }
        var snapshot = FileTableSnapshot(span: rows, query: query)
        try table.files(at: query.paths.filter { $0 < low || high < $0 }, into: &snapshot.files)
        return snapshot
    }

    public func changeCount(workspace: String, appliedSince: String) async throws -> Int {
        try await pool.read { db in
            // Sequences are in commit order, so the recent ones are the newest rows: a short scan.
            try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM (SELECT applied_at FROM change WHERE workspace = ?
                    ORDER BY sequence DESC LIMIT 10000) WHERE applied_at >= ?
                    """,
                arguments: [workspace, appliedSince]) ?? 0
        }
    }

    public func compact(workspace: String, before: Int64) async throws -> [String] {
        try await pool.write { db in
            let first =
                try Int64.fetchOne(
                    db, sql: "SELECT first_retained FROM workspace WHERE key = ?", arguments: [workspace]) ?? 1
            guard before > first else { return [] }
            let hashes = try String.fetchAll(
                db, sql: "SELECT bundle_sha256 FROM change WHERE workspace = ? AND sequence >= ? AND sequence < ?",
                arguments: [workspace, first, before])
            try db.execute(
                sql: "UPDATE change SET operations = '[]' WHERE workspace = ? AND sequence >= ? AND sequence < ?",
                arguments: [workspace, first, before])
            try db.execute(
                sql: "UPDATE workspace SET first_retained = ? WHERE key = ?", arguments: [before, workspace])
            return hashes
        }
    }

    public func commit(
        _ commit: BundleCommit, blobsDurable: @escaping @Sendable () throws -> Void
    ) async throws -> CommitOutcome {
        let outcome = try await pool.writeWithoutTransaction { db in
            var outcome = CommitOutcome.committed
            try db.inTransaction(.immediate) {
                outcome = try Self.commit(commit, db)
                try blobsDurable()
                if case .committed = outcome { return .commit }
                return .rollback
            }
            return outcome
        }
        checkpointer.committed(rows: commit.fileChanges.count + 1)
        return outcome
    }

    /// The body of the commit transaction: checks first, then every write.
    private static func commit(_ commit: BundleCommit, _ db: Database) throws -> CommitOutcome {
        do {
            if let existing = try change(db, workspace: commit.workspace, bundleID: commit.change.bundleID) {
                return .duplicate(existing)
            }
            let last =
                try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT last_sequence FROM workspace WHERE key = ?"),
                    arguments: [commit.workspace]
                ) ?? 0
            guard commit.sequence == last + 1 else { return .sequenceMoved(lastSequence: last) }
            let change = commit.change
            try db.cachedStatement(
                sql: """
                    INSERT INTO workspace (key, workspace_path, collection_name, last_sequence, last_upload, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(key) DO UPDATE SET
                        last_sequence = excluded.last_sequence,
                        last_upload = excluded.last_upload,
                        workspace_path = COALESCE(excluded.workspace_path, workspace.workspace_path)
                    """
            ).execute(
                arguments: [
                    commit.workspace, commit.workspacePath, commit.collectionName, commit.sequence, change.appliedAt,
                    change.appliedAt,
                ]
            )
            let upsert = try db.cachedStatement(
                sql: """
                    INSERT INTO file (workspace, path, sha256, sha1, size, mode, sequence, sha256_key, sha1_key)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(workspace, path) DO UPDATE SET
                        sha256 = excluded.sha256, sha1 = excluded.sha1, size = excluded.size,
                        mode = excluded.mode, sequence = excluded.sequence,
                        sha256_key = excluded.sha256_key, sha1_key = excluded.sha1_key
                    """
            )
            let delete = try db.cachedStatement(
                sql: "DELETE FROM file INDEXED BY file_by_path WHERE workspace = ? AND path = ?")
            let salt = Self.workspaceSalt(commit.workspace)
            for fileChange in commit.fileChanges {
                switch fileChange {
                case .upsert(let file):
                    try upsert.execute(arguments: [
                        commit.workspace, file.path, file.sha256, file.sha1, file.size, Int64(file.mode),
                        commit.sequence, Self.hashKey(file.sha256, salt: salt), Self.hashKey(file.sha1, salt: salt),
                    ])
                case .delete(let path):
                    try delete.execute(arguments: [commit.workspace, path])
                }
            }
            try db.cachedStatement(
                sql: """
                    INSERT INTO change (workspace, sequence, bundle_id, bundle_sha256, bundle_size, applied_at, counts,
                        operations, processing_time_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(
                arguments: [
                    commit.workspace, commit.sequence, change.bundleID, change.bundleSHA256, change.bundleSize,
                    change.appliedAt, try Self.json(change.counts),
                    String(decoding: ChangeJSON.encode(change.operations), as: UTF8.self),
                    change.processingTimeMs,
                ]
            )
            return .committed
        }
    }

    public func setMaterializedSequence(workspace: String, sequence: Int64) async throws {
        try await writeDerived { db in
            try db.cachedStatement(sql: "UPDATE workspace SET materialized_sequence = ? WHERE key = ?").execute(
                arguments: [sequence, workspace])
        }
    }

    /// A transaction of derived state (how far the materialised copy or the code graph has
    /// got), committed without a sync of its own: the next bundle's commit syncs it with its
    /// own (the log is written in order), and one lost to a power loss is redone from the log at
    /// start-up. Each would otherwise cost a sync on the disk a save's commit waits for.
    /// `cacheKiB` bounds the writer's page cache for this transaction only (what it had cached
    /// beyond that is freed at once), and the usual bound is back after it.
    func writeDerived<T: Sendable>(
        cacheKiB: Int? = nil, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await pool.writeWithoutTransaction { db in
            if let cacheKiB { try db.execute(sql: "PRAGMA cache_size = \(-cacheKiB)") }
            defer { if cacheKiB != nil { try? db.execute(sql: "PRAGMA cache_size = \(-Self.writerCacheKiB)") } }
            try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
            let outcome = Result<T?, any Error> {
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result
            }
            // Back before anything else commits on this connection, or the error says why not.
            try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
            guard let result = try outcome.get() else {
                throw DeltaError(.internalError, "a derived-state transaction returned nothing")
            }
            return result
        }
    }

    // MARK: - Files

    public func files(workspace: String) async throws -> (sequence: Int64, files: [FileRecord]) {
        try await pool.read { db in
            let sequence =
                try Int64.fetchOne(
                    db, sql: "SELECT last_sequence FROM workspace WHERE key = ?", arguments: [workspace]
                ) ?? 0
            let files = try Self.fileRecords(
                db,
                sql:
                    "SELECT path, sha256, sha1, size, mode FROM file INDEXED BY file_by_path WHERE workspace = ? ORDER BY path",
                arguments: [workspace])
            return (sequence, files)
        }
    }

    /// The rows of a `SELECT path, sha256, sha1, size, mode`. A cursor read by column index: a
    /// manifest is 100,000 rows, and copying each row and looking its columns up by name cost
    /// more than the query.
    private static func fileRecords(_ db: Database, sql: String, arguments: StatementArguments) throws
        -> [FileRecord]
    {
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        var files: [FileRecord] = []
        while let row = try rows.next() {
            files.append(
                FileRecord(
                    path: row[0], sha256: row[1], sha1: row[2], size: row[3],
                    mode: UInt32(truncatingIfNeeded: row[4] as Int64)))
        }
        return files
    }

    public func files(workspace: String, after: String?, limit: Int) async throws -> [FileRecord] {
        try await pool.read { db in
            try Self.fileRecords(
                db,
                sql: """
                    SELECT path, sha256, sha1, size, mode FROM file INDEXED BY file_by_path
                    WHERE workspace = ? AND path > ? ORDER BY path LIMIT ?
                    """,
                arguments: [workspace, after ?? "", limit])
        }
    }

    public func files(workspace: String, paths: [String]) async throws -> [PathKey: FileRecord] {
        try await pool.read { db in
            let table = SQLiteFileTable(db: db, workspace: workspace)
            var result: [PathKey: FileRecord] = [:]
            for path in paths {
                if let file = try table.file(at: path) { result[PathKey(path)] = file }
            }
            return result
        }
    }

    public func fileCount(workspace: String) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file WHERE workspace = ?", arguments: [workspace]) ?? 0
        }
    }

    public func heldContents(workspace: String, among sha256s: [String]) async throws -> Set<String> {
        try await pool.read { db in
            var held = Set<String>()
            let salt = Self.workspaceSalt(workspace)
            // In slices, under SQLite's bound-parameter limit.
            for start in stride(from: 0, to: sha256s.count, by: 400) {
                let slice = Array(sha256s[start..<min(start + 400, sha256s.count)])
                let marks = Array(repeating: "?", count: slice.count).joined(separator: ",")
                let found = try String.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT sha256 FROM file INDEXED BY file_by_sha256_key
                        WHERE workspace = ? AND sha256_key IN (\(marks)) AND sha256 IN (\(marks))
                        """,
                    arguments: StatementArguments([workspace] + slice.map { Self.hashKey($0, salt: salt) } + slice))
                held.formUnion(found)
            }
            return held
        }
    }

    public func filesWithoutSHA1(workspace: String, limit: Int) async throws -> [FileRecord] {
        try await pool.read { db in
            // Stored with the key of an empty digest, so the key's index finds them.
            let statement = try db.cachedStatement(
                sql: """
                    SELECT path, sha256, sha1, size, mode FROM file INDEXED BY file_by_sha1_key
                    WHERE sha1_key = ? AND workspace = ? AND sha1 = '' LIMIT ?
                    """)
            return try Row.fetchAll(
                statement, arguments: [Self.hashKey("", workspace: workspace), workspace, limit]
            ).map(Self.file(row:))
        }
    }

    public func setSHA1(workspace: String, _ digests: [(path: String, sha256: String, sha1: String)]) async throws {
        let salt = Self.workspaceSalt(workspace)
        // Derived from the blobs, so written like the copy's progress: one lost to a power loss
        // is worked out again when next needed.
        try await writeDerived { db in
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE file SET sha1 = ?, sha1_key = ?
                    WHERE workspace = ? AND path = ? AND sha256 = ? AND sha1 = ''
                    """)
            for digest in digests {
                try statement.execute(arguments: [
                    digest.sha1, Self.hashKey(digest.sha1, salt: salt), workspace, digest.path, digest.sha256,
                ])
            }
        }
    }

    // MARK: - Tokens

    public func insertToken(_ token: TokenRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO token (id, hash, workspace, scope, label, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [token.id, token.hash, token.workspace, token.scope.rawValue, token.label, token.createdAt]
            )
        }
    }

    public func token(hash: String) async throws -> TokenRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM token WHERE hash = ?", arguments: [hash]).map(Self.token)
        }
    }

    public func tokens() async throws -> [TokenRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM token ORDER BY created_at, id").map(Self.token)
        }
    }

    public func revokeToken(id: String, at time: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [time, id])
            return db.changesCount == 1
        }
    }

    static func token(_ row: Row) -> TokenRecord {
        TokenRecord(
            id: row["id"], hash: row["hash"], workspace: row["workspace"],
            scope: TokenRecord.Scope(rawValue: row["scope"]) ?? .read, label: row["label"],
            createdAt: row["created_at"], revokedAt: row["revoked_at"]
        )
    }

    public func tokenCount() async throws -> Int {
        // Asked by every request on loopback until a token exists: a read of a tiny table.
        try readInline { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM token")) ?? 0 }
    }

    public func healthCheck() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    // MARK: - Row mapping

    static func workspace(_ db: Database, _ key: String) throws -> WorkspaceRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM workspace WHERE key = ?"), arguments: [key])
            .map(workspace(row:))
    }

    static func workspace(row: Row) -> WorkspaceRecord {
        WorkspaceRecord(
            key: row["key"], workspacePath: row["workspace_path"], collectionName: row["collection_name"],
            lastSequence: row["last_sequence"], lastUpload: row["last_upload"],
            materializedSequence: row["materialized_sequence"], indexedSequence: row["indexed_sequence"],
            firstRetained: row["first_retained"]
        )
    }

    static func file(row: Row) -> FileRecord {
        FileRecord(
            path: row["path"], sha256: row["sha256"], sha1: row["sha1"], size: row["size"],
            mode: UInt32(truncatingIfNeeded: row["mode"] as Int64)
        )
    }

    static func change(row: Row) throws -> ChangeRecord {
        let decoder = JSONDecoder()
        return ChangeRecord(
            sequence: row["sequence"], bundleID: row["bundle_id"], bundleSHA256: row["bundle_sha256"],
            bundleSize: row["bundle_size"], appliedAt: row["applied_at"],
            counts: try decoder.decode(OperationCounts.self, from: Data((row["counts"] as String).utf8)),
            operations: try ChangeJSON.decodeOperations(Array((row["operations"] as String).utf8)),
            processingTimeMs: row["processing_time_ms"]
        )
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
}

/// Lookups in one read transaction (cached statements: a bundle asks per path).
struct SQLiteFileTable {
    let db: Database
    let workspace: String

    func file(at path: String) throws -> FileRecord? {
        let statement = try db.cachedStatement(
            sql:
                "SELECT path, sha256, sha1, size, mode FROM file INDEXED BY file_by_path WHERE workspace = ? AND path = ?"
        )
        return try Row.fetchOne(statement, arguments: [workspace, path]).map(SQLiteStorage.file(row:))
    }

    /// The record of each of `paths` that is a current file, one lookup each.
    func files(at paths: some Sequence<PathKey>, into records: inout [PathKey: FileRecord]) throws {
        for path in paths {
            if let record = try file(at: path.string) { records[path] = record }
        }
    }

    /// The files from `low` through `high`, at most `limit`, in path order.
    func files(from low: String, through high: String, limit: Int) throws -> [FileRecord] {
        let statement = try db.cachedStatement(
            sql: """
                SELECT path, sha256, sha1, size, mode FROM file INDEXED BY file_by_path
                WHERE workspace = ? AND path >= ? AND path <= ? ORDER BY path LIMIT ?
                """)
        return try Row.fetchAll(statement, arguments: [workspace, low, high, limit]).map(SQLiteStorage.file(row:))
    }

    func filePaths(under directory: String) throws -> [String] {
        // '0' is the byte after '/', so this range is exactly the paths that start with "directory/".
        let statement = try db.cachedStatement(
            sql: "SELECT path FROM file INDEXED BY file_by_path WHERE workspace = ? AND path >= ? AND path < ?")
        return try String.fetchAll(statement, arguments: [workspace, directory + "/", directory + "0"])
    }

    func file(withHash hash: ContentHash) throws -> FileRecord? {
        let column = hash.algorithm == .sha1 ? "sha1" : "sha256"
        // Without statistics SQLite may prefer another index's `workspace` prefix and scan the
        // whole workspace; the key's index turns each lookup into one seek (and the digest
        // itself tells apart the rare hashes that share a key).
        let statement = try db.cachedStatement(
            sql: """
                SELECT path, sha256, sha1, size, mode FROM file INDEXED BY file_by_\(column)_key
                WHERE workspace = ? AND \(column)_key = ? AND \(column) = ? LIMIT 1
                """
        )
        return try Row.fetchOne(statement, arguments: [workspace, SQLiteStorage.hashKey(hash.hex, workspace: workspace), hash.hex]).map(
            SQLiteStorage.file(row:))
    }
}
