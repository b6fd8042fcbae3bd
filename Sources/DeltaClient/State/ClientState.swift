import DeltaCore
import Foundation
import GRDB
import GRDBSQLite

#if canImport(Glibc)
    import Glibc
#endif

/// What the client remembers about one workspace, in `DIR/.deltasync/state.sqlite`: the file
/// table (the tree the server has or will have once the outbox drains), the one-row sync record
/// (`SyncState`: acknowledged sequence, server kind, what the next run must do), and the outbox of
/// bundles written before they are sent.
public final class ClientState: Sendable {
    let queue: DatabaseQueue
    public let directory: String

    /// A bundle in the outbox. `ackedSequence` is set once the server acknowledged it; a few
    /// acknowledged bundles are kept to replay to a server restored from an old backup.
    public struct OutboxEntry: Sendable, Hashable {
        public var id: Int64
        public var bundleID: String
        public var file: String
        public var size: Int64
        public var operations: Int
        public var ackedSequence: Int64?
        /// Uploaded with `force=true` (a compatible-core recovery or rebuild).
        public var force: Bool
        /// Every path the bundle touches (a move's source too), for a compatible-core recovery.
        public var paths: [String]?
    }

    /// Opens (creating) the state directory and database.
    public init(directory: String) throws {
        self.directory = directory
        try FileSystem.createDirectory(directory)
        try FileSystem.createDirectory(directory + "/outbox")
        if !FileSystem.exists(directory + "/.gitignore") {
            try FileSystem.writeAtomically(directory + "/.gitignore", Array("*\n".utf8))
        }
        // `watch`, `push` and `status` may open the state at the same moment: one migrates at a time.
        let lock = open(directory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw DeltaError.posix("open", directory + "/.lock") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DeltaError.posix("flock", directory + "/.lock") }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // WAL with synchronous NORMAL: a commit appends to the log and syncs only at checkpoints,
        // where the default rollback journal synced two files per commit (several per save in
        // `watch`). A killed process loses nothing committed; a power loss may lose the last
        // commits, which the next run finds again (the tree is re-detected against the file table,
        // and the server's sequence or the manifest reconciles the rest).
        // A small page cache: the file table is read through once per full scan, never hot, and
        // a watcher holds its connection (and cache) for as long as it runs.
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -512")
        }
        queue = try DatabaseQueue(path: directory + "/state.sqlite", configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    CREATE TABLE file (
                        path TEXT PRIMARY KEY NOT NULL,
                        size INTEGER NOT NULL,
                        mtime_ns INTEGER NOT NULL,
                        ctime_ns INTEGER NOT NULL,
                        inode INTEGER NOT NULL,
                        mode INTEGER NOT NULL,
                        sha256 TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        bundle_id TEXT NOT NULL,
                        file TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        operations INTEGER NOT NULL,
                        created_at TEXT NOT NULL,
                        acked_sequence INTEGER
                    );
                    """
            )
        }
        migrator.registerMigration("v2-sync-state") { db in try SyncState.migrate(from: db) }
        migrator.registerMigration("v3-conflicts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE conflict (
                        kept_as TEXT PRIMARY KEY NOT NULL,
                        path TEXT NOT NULL,
                        sequence INTEGER NOT NULL,
                        detected_at TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v4-file-generation") { db in
            // Bumped by every change to the file table, so a `TreeSnapshot` taken when the table
            // matched the tree can tell it still does. The epoch tells a new database from an old one.
            try db.execute(
                sql: """
                    CREATE TABLE file_generation (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        epoch TEXT NOT NULL,
                        value INTEGER NOT NULL
                    );
                    INSERT INTO file_generation (id, epoch, value) VALUES (1, lower(hex(randomblob(16))), 0);
                    """)
        }
        try migrator.migrate(queue)
    }

    // MARK: - Sync record

    /// The one-row sync record.
    public func syncState() throws -> SyncState {
        try readSmall { db in try SyncState.fetch(db) }
    }

    /// The reads on a save's way to the server: one statement each (which is consistent by
    /// itself), or several in the session that holds this state (one `push` or `watch` at a time,
    /// `SessionLock`; its reads and writes take turns on this one connection, so no write lands
    /// between them). No transaction is opened around them: GRDB's `read` wraps each in `BEGIN`
    /// and `COMMIT`, parsed every time, and two query-only pragmas, and a save's four reads spent
    /// about 0.5 ms there before the upload began.
    private func readSmall<T>(_ body: (Database) throws -> T) throws -> T { try queue.inDatabase(body) }

    /// Reads, changes and writes the sync record in one transaction; returns the new record.
    @discardableResult
    public func updateSyncState(_ change: (inout SyncState) -> Void) throws -> SyncState {
        try queue.write { db in try Self.updateSyncState(db, change) }
    }

    /// Writes nothing when the change leaves the record as it was: a push that finds nothing to
    /// do then commits nothing, and its state database costs no sync.
    @discardableResult
    static func updateSyncState(_ db: Database, _ change: (inout SyncState) -> Void) throws -> SyncState {
        let before = try SyncState.fetch(db)
        var record = before
        change(&record)
        if record != before { try record.save(db) }
        return record
    }

    /// The file beside the database that says when the last push finished.
    static let lastPushFileName = "last-push"

    /// Records when a push finished (RFC 3339). Kept in a file of its own, written without a
    /// sync: a commit to the database would cost every push, a no-change one included, the
    /// syncs of a write-ahead log (tens of milliseconds while the disk is busy), and a time lost
    /// to a power cut is harmless.
    public func recordPush(at time: String) {
        try? FileSystem.writeAtomically(
            directory + "/" + Self.lastPushFileName, Array((time + "\n").utf8), mode: 0o600, sync: false)
    }

    /// When the last push finished: the file `recordPush(at:)` writes, else what an older
    /// client kept in the sync record.
    public func lastPushAt(_ record: SyncState) -> String? {
        guard let bytes = try? FileSystem.readAll(directory + "/" + Self.lastPushFileName, limit: 256) else {
            return record.lastPushAt
        }
        let time = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return time.isEmpty ? record.lastPushAt : time
    }

    /// The last sequence the server acknowledged for this workspace.
    public var ackedSequence: Int64 {
        get throws { try syncState().ackedSequence }
    }

    public func setAckedSequence(_ sequence: Int64) throws { try updateSyncState { $0.ackedSequence = sequence } }

    // MARK: - Files

    public func files() throws -> [String: TrackedFile] {
        try queue.read { db in
            var result: [String: TrackedFile] = [:]
            result.reserveCapacity(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file") ?? 0)
            // Read through SQLite's own calls: a no-change push reads every row, and GRDB's row
            // decoding cost more than the query.
            let statement = try db.makeStatement(
                sql: "SELECT path, size, mtime_ns, ctime_ns, inode, mode, sha256 FROM file")
            let raw = statement.sqliteStatement
            while true {
                let code = sqlite3_step(raw)
                guard code == SQLITE_ROW else {
                    guard code == SQLITE_DONE else {
                        throw DatabaseError(
                            resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
                    }
                    break
                }
                let path = Self.text(raw, 0)
                result[path] = TrackedFile(
                    path: path, size: sqlite3_column_int64(raw, 1), mtimeNanoseconds: sqlite3_column_int64(raw, 2),
                    ctimeNanoseconds: sqlite3_column_int64(raw, 3),
                    inode: UInt64(bitPattern: sqlite3_column_int64(raw, 4)),
                    mode: UInt32(truncatingIfNeeded: sqlite3_column_int64(raw, 5)), sha256: Self.text(raw, 6))
            }
            return result
        }
    }

    /// A token that changes whenever the file table does (and differs between databases).
    public func filesGeneration() throws -> String {
        try readSmall { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT epoch || ':' || value FROM file_generation WHERE id = 1")) ?? ""
        }
    }

    static func bumpFilesGeneration(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE file_generation SET value = value + 1 WHERE id = 1").execute()
    }

    /// The entry at `path` and, with `andBelow`, every entry under `path/`.
    public func files(at path: String, andBelow: Bool) throws -> [String: TrackedFile] {
        try readSmall { db in
            var sql = "SELECT path, size, mtime_ns, ctime_ns, inode, mode, sha256 FROM file WHERE path = ?"
            var arguments: StatementArguments = [path]
            if andBelow {
                sql += " OR (path >= ? AND path < ?)"
                arguments += [path + "/", path + "0"]
            }
            var result: [String: TrackedFile] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments) {
                let state = Self.state(row)
                result[state.path] = state
            }
            return result
        }
    }

    /// Rows of `SELECT *` on `file`, by column position (name lookups cost a lot at 100k rows).
    static func state(_ row: Row) -> TrackedFile {
        TrackedFile(
            path: row[0], size: row[1], mtimeNanoseconds: row[2], ctimeNanoseconds: row[3],
            inode: UInt64(bitPattern: row[4] as Int64), mode: UInt32(truncatingIfNeeded: row[5] as Int64),
            sha256: row[6]
        )
    }

    /// Refreshes stat fingerprints of files whose content did not change (no outbox entry).
    public func refresh(_ states: [TrackedFile]) throws {
        guard !states.isEmpty else { return }
        try queue.write { db in try Self.upsert(db, states) }
    }

    /// Removes the entries of `paths` from the file table.
    public func forget(_ paths: [String]) throws {
        guard !paths.isEmpty else { return }
        try queue.write { db in try Self.delete(db, paths) }
    }

    static func upsert(_ db: Database, _ states: [TrackedFile]) throws {
        guard !states.isEmpty else { return }
        try bumpFilesGeneration(db)
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO file (path, size, mtime_ns, ctime_ns, inode, mode, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                    ctime_ns = excluded.ctime_ns, inode = excluded.inode, mode = excluded.mode, sha256 = excluded.sha256
                """
        )
        // Bound through SQLite's own calls: GRDB's arguments box every value, and a first push or
        // a pull writes 100,000 rows here.
        let raw = statement.sqliteStatement
        for state in states {
            sqlite3_reset(raw)
            Self.bind(raw, 1, state.path)
            sqlite3_bind_int64(raw, 2, state.size)
            sqlite3_bind_int64(raw, 3, state.mtimeNanoseconds)
            sqlite3_bind_int64(raw, 4, state.ctimeNanoseconds)
            sqlite3_bind_int64(raw, 5, Int64(bitPattern: state.inode))
            sqlite3_bind_int64(raw, 6, Int64(state.mode))
            Self.bind(raw, 7, state.sha256)
            let code = sqlite3_step(raw)
            guard code == SQLITE_DONE else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
            }
        }
        sqlite3_reset(raw)
    }

    /// Column `index` of the current row as text.
    private static func text(_ statement: SQLiteStatement, _ index: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, index) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// Binds `text` to parameter `index`, copied by SQLite (`SQLITE_TRANSIENT`).
    private static func bind(_ statement: SQLiteStatement, _ index: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                // An empty buffer may have no address: bind a zero-length blob of text then.
                _ = sqlite3_bind_text(
                    statement, index, chars.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(chars.count),
                    unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            }
        }
    }

    // MARK: - Outbox

    /// Records a written (and fsynced) bundle and the file-table changes it carries, atomically.
    public func enqueue(
        bundleID: String, file: String, size: Int64, operations: Int, upserts: [TrackedFile], deletes: [String],
        paths: [String]? = nil, force: Bool = false
    ) throws {
        try queue.write { db in
            try Self.insertOutbox(
                db, bundleID: bundleID, file: file, size: size, operations: operations, paths: paths, force: force)
            try Self.upsert(db, upserts)
            try Self.delete(db, deletes)
        }
    }

    static func insertOutbox(
        _ db: Database, bundleID: String, file: String, size: Int64, operations: Int, paths: [String]?, force: Bool
    ) throws {
        let encodedPaths = paths.map { String(decoding: JSONStrings.encode($0), as: UTF8.self) }
        try db.cachedStatement(
            sql: """
                INSERT INTO outbox (bundle_id, file, size, operations, created_at, force, paths)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                bundleID, file, size, operations, RFC3339.string(), force, encodedPaths,
            ]
        )
    }

    static func delete(_ db: Database, _ paths: [String]) throws {
        guard !paths.isEmpty else { return }
        try bumpFilesGeneration(db)
        let delete = try db.cachedStatement(sql: "DELETE FROM file WHERE path = ?")
        for path in paths { try delete.execute(arguments: [path]) }
    }

    /// One bundle written to replace the pending outbox (a compatible-core recovery).
    public struct Replacement: Sendable {
        public var bundleID: String
        public var file: String
        public var size: Int64
        public var operations: Int
        public var paths: [String]
    }

    /// Replaces every pending entry by `replacements` (uploaded with `force=true`), applies the
    /// file-table changes they carry and adopts `sequence` as acknowledged — one transaction, so
    /// a crash leaves either the old outbox or the new one.
    public func replacePending(
        with replacements: [Replacement], upserts: [TrackedFile], deletes: [String], adopting sequence: Int64
    ) throws {
        let files: [String] = try queue.write { db in
            let files = try String.fetchAll(db, sql: "SELECT file FROM outbox WHERE acked_sequence IS NULL")
            try db.execute(sql: "DELETE FROM outbox WHERE acked_sequence IS NULL")
            for bundle in replacements {
                try Self.insertOutbox(
                    db, bundleID: bundle.bundleID, file: bundle.file, size: bundle.size, operations: bundle.operations,
                    paths: bundle.paths, force: true)
            }
            try Self.upsert(db, upserts)
            try Self.delete(db, deletes)
            try Self.updateSyncState(db) { $0.ackedSequence = sequence }
            return files
        }
        for file in files { unlink(directory + "/outbox/" + file) }
    }

    /// How many bundles wait for the server (without reading their entries).
    public func pendingCount() throws -> Int {
        try readSmall { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM outbox WHERE acked_sequence IS NULL")) ?? 0
        }
    }

    public func pending() throws -> [OutboxEntry] {
        try entries(sql: Self.pendingSQL)
    }

    /// The acknowledged sequence and the pending bundles, from one read (an upload's start, in
    /// the session holding the state).
    public func ackedAndPending() throws -> (acked: Int64, pending: [OutboxEntry]) {
        try readSmall { db in (try SyncState.fetch(db).ackedSequence, try Self.entries(db, sql: Self.pendingSQL)) }
    }

    private static let pendingSQL = "SELECT * FROM outbox WHERE acked_sequence IS NULL ORDER BY id"

    /// Acknowledged bundles still kept, by sequence.
    public func retained() throws -> [OutboxEntry] {
        try entries(sql: "SELECT * FROM outbox WHERE acked_sequence IS NOT NULL ORDER BY acked_sequence")
    }

    private func entries(sql: String) throws -> [OutboxEntry] {
        try readSmall { db in try Self.entries(db, sql: sql) }
    }

    private static func entries(_ db: Database, sql: String) throws -> [OutboxEntry] {
        try Row.fetchAll(db.cachedStatement(sql: sql)).map { row in
            OutboxEntry(
                id: row["id"], bundleID: row["bundle_id"], file: row["file"], size: row["size"],
                operations: row["operations"], ackedSequence: row["acked_sequence"], force: row["force"],
                paths: (row["paths"] as String?).flatMap {
                    try? JSONDecoder().decode([String].self, from: Data($0.utf8))
                }
            )
        }
    }

    /// Marks an entry acknowledged as `sequence`, advances the acknowledged sequence and keeps
    /// only the most recent `keep` acknowledged bundles on disk.
    public func acknowledge(_ entry: OutboxEntry, sequence: Int64, keep: Int = 32) throws {
        let removed: [String] = try queue.write { db in
            try db.cachedStatement(sql: "UPDATE outbox SET acked_sequence = ? WHERE id = ?").execute(
                arguments: [sequence, entry.id])
            try Self.updateSyncState(db) { $0.ackedSequence = sequence }
            let old = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT id, file FROM outbox WHERE acked_sequence IS NOT NULL
                        ORDER BY acked_sequence DESC LIMIT -1 OFFSET ?
                        """),
                arguments: [keep]
            )
            let delete = try db.cachedStatement(sql: "DELETE FROM outbox WHERE id = ?")
            for row in old { try delete.execute(arguments: [row["id"] as Int64]) }
            return old.map { $0["file"] }
        }
        for file in removed { unlink(directory + "/outbox/" + file) }
    }

    /// Forgets every outbox entry and the file table (before a resync against the server's manifest).
    public func reset(keepingFiles: Bool) throws {
        let files: [String] = try queue.write { db in
            let files = try String.fetchAll(db, sql: "SELECT file FROM outbox")
            try db.execute(sql: "DELETE FROM outbox")
            if !keepingFiles {
                try db.execute(sql: "DELETE FROM file")
                try Self.bumpFilesGeneration(db)
            }
            return files
        }
        for file in files { unlink(directory + "/outbox/" + file) }
    }

    /// Replaces the whole file table (after a resync computed the server's real tree).
    public func replaceFiles(_ states: [TrackedFile]) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM file")
            try Self.bumpFilesGeneration(db)
            try Self.upsert(db, states)
        }
    }

    /// Removes bundle files in the outbox directory that no entry names (a crash between writing
    /// the bundle and recording it).
    public func removeOrphans() throws {
        // Names only: an entry's `paths` can list 100,000 paths (a first push's bundles are
        // kept once acknowledged), and decoding them took most of a no-change push.
        let known = Set(try queue.read { db in try String.fetchAll(db, sql: "SELECT file FROM outbox") })
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory + "/outbox") else { return }
        for name in names where !known.contains(name) { unlink(directory + "/outbox/" + name) }
    }

    public func outboxPath(_ file: String) -> String { directory + "/outbox/" + file }

    /// Whether an entry's bundle file is there at its recorded size (a source list: whole, and
    /// for a bundle of that size). A bundle is fsynced while it uploads (see `Outbox`), so a
    /// power loss before that can leave it gone or short.
    public func isIntact(_ entry: OutboxEntry) -> Bool { isIntact(file: entry.file, size: entry.size) }

    private func isIntact(file: String, size: Int64) -> Bool {
        if file.hasSuffix(BundleSources.fileExtension) {
            return BundleSources.isIntact(outboxPath(file), bundleSize: size)
        }
        var info = stat()
        return stat(outboxPath(file), &info) == 0 && Int64(info.st_size) == size
    }

    /// Drops every pending entry when one of them lost its bundle file, and marks the state for
    /// reconciliation with the server: the changes it carried are in the file table already, so
    /// only a comparison with the server's tree finds them again. Returns the bundles lost.
    public func dropLostPending() throws -> Int {
        // Names and sizes only: a pending entry's `paths` can list 100,000 paths, and this runs
        // at every start.
        let pending = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT file, size FROM outbox WHERE acked_sequence IS NULL").map {
                (file: $0["file"] as String, size: $0["size"] as Int64)
            }
        }
        let lost = pending.filter { !isIntact(file: $0.file, size: $0.size) }.count
        guard lost > 0 else { return 0 }
        try queue.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE acked_sequence IS NULL")
            try Self.updateSyncState(db) { $0.needsResync = true }
        }
        for entry in pending { unlink(outboxPath(entry.file)) }
        return lost
    }

    // MARK: - Conflicts

    /// Records a local edit `pull` kept aside as `keptAs` instead of overwriting it.
    public func recordConflict(_ conflict: PullConflict) throws {
        try queue.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO conflict (kept_as, path, sequence, detected_at) VALUES (?, ?, ?, ?)",
                arguments: [conflict.keptAs, conflict.path, conflict.sequence, conflict.detectedAt])
        }
    }

    /// The conflict copies still present under `root`; those the user has removed (resolved)
    /// are forgotten.
    public func openConflicts(root: String) throws -> [PullConflict] {
        let all = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM conflict ORDER BY sequence, path").map { row in
                PullConflict(
                    path: row["path"], keptAs: row["kept_as"], sequence: row["sequence"], detectedAt: row["detected_at"]
                )
            }
        }
        let present = all.filter { FileSystem.exists(root + "/" + $0.keptAs) }
        let kept = Set(present.map(\.keptAs))
        let resolved = all.filter { !kept.contains($0.keptAs) }
        if !resolved.isEmpty {
            try queue.write { db in
                for conflict in resolved {
                    try db.execute(sql: "DELETE FROM conflict WHERE kept_as = ?", arguments: [conflict.keptAs])
                }
            }
        }
        return present
    }
}

/// A local edit in a `pull` replica that the server's change would have overwritten: the local
/// version was renamed to `keptAs` (`PATH.deltasync-conflict-<sequence>`) next to it.
public struct PullConflict: Sendable, Codable, Equatable {
    public var path: String
    public var keptAs: String
    /// The server sequence whose change met the local edit.
    public var sequence: Int64
    public var detectedAt: String

    public init(path: String, keptAs: String, sequence: Int64, detectedAt: String) {
        self.path = path
        self.keptAs = keptAs
        self.sequence = sequence
        self.detectedAt = detectedAt
    }

    enum CodingKeys: String, CodingKey {
        case path, sequence
        case keptAs = "kept_as"
        case detectedAt = "detected_at"
    }
}
