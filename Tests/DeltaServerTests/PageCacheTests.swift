import DeltaCore
import DeltaGraph
import DeltaTestSupport
import GRDB
import GRDBSQLite
import Testing

@testable import DeltaServer

/// The database's page caches: readers small, the writer large for bundle commits, and small
/// only while it commits a step of the code graph — after which, failed or not, the writer's
/// bound is back for the next bundle.
@Suite struct PageCacheTests {
    static func cacheSize(_ db: Database) throws -> Int? {
        try Int.fetchOne(db, sql: "PRAGMA cache_size")
    }

    /// Bytes the connection's page cache holds now.
    static func cacheUsed(_ db: Database) -> Int32 {
        var current: Int32 = 0
        var highest: Int32 = 0
        _ = sqlite3_db_status(db.sqliteConnection, SQLITE_DBSTATUS_CACHE_USED, &current, &highest, 0)
        return current
    }

    @Test func aGraphCommitBoundsTheWritersCacheForItselfOnly() async throws {
        try await withTemporaryDirectory("page-cache") { directory in
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            #expect(try await storage.pool.read(Self.cacheSize) == -SQLiteStorage.readerCacheKiB)
            #expect(try await storage.pool.write(Self.cacheSize) == -SQLiteStorage.writerCacheKiB)

            let facts = FileFacts(
                language: .c, imports: [], symbols: [Symbol(name: "f", kind: "function", line: 1, signature: "int f(void)")],
                fingerprint: String(repeating: "0", count: 16))
            let duringCommit = try await storage.writeDerived(cacheKiB: SQLiteStorage.graphCacheKiB) { db in
                try Self.cacheSize(db)
            }
            #expect(duringCommit == -SQLiteStorage.graphCacheKiB)
            // The writer's cache filled as a push's commits fill it; a graph commit frees what is
            // beyond its own bound.
            let filled = try await storage.pool.write { db in
                try db.execute(sql: "CREATE TABLE filler (bytes BLOB)")
                for _ in 0..<3_000 { try db.execute(sql: "INSERT INTO filler VALUES (randomblob(1000))") }
                return Self.cacheUsed(db)
            }
            #expect(filled > 2 << 20)
            try await storage.commitGraph(
                GraphCommit(
                    workspace: "ws", reset: true, modelVersion: 0, indexedSequence: nil, upserts: [("a.c", facts)],
                    deletes: [], record: nil))
            #expect(try await storage.pool.write(Self.cacheSize) == -SQLiteStorage.writerCacheKiB)
            #expect(try await storage.pool.write { Self.cacheUsed($0) } <= 2 * SQLiteStorage.graphCacheKiB << 10)
            #expect(try await storage.symbols(workspace: "ws", paths: ["a.c"])["a.c"]?.map(\.name) == ["f"])

            // A transaction that fails leaves the writer's bound as it was, and nothing written.
            await #expect(throws: DeltaError.self) {
                try await storage.writeDerived(cacheKiB: SQLiteStorage.graphCacheKiB) { db in
                    try db.execute(sql: "DELETE FROM graph_symbol")
                    throw DeltaError(.internalError, "refused")
                }
            }
            #expect(try await storage.pool.write(Self.cacheSize) == -SQLiteStorage.writerCacheKiB)
            #expect(try await storage.symbols(workspace: "ws", paths: ["a.c"])["a.c"]?.map(\.name) == ["f"])
        }
    }
}
