import DeltaCore
@testable import DeltaServer
import DeltaTestSupport
import Foundation
import GRDB
import Testing

/// The write-ahead log is copied back into the database by `WALCheckpointer`, off the commit
/// path; the writer's own automatic checkpoint is only a backstop.
@Suite struct CheckpointTests {
    @Test func commitsAreCheckpointedInTheBackground() async throws {
        try await withTemporaryDirectory("checkpoint") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let storage = try #require(server.prepared.storage as? SQLiteStorage)
                let backstop = try await storage.pool.writeWithoutTransaction { db in
                    try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint")
                }
                #expect(backstop == WALCheckpointer.backstopPages)
                let before = storage.checkpointer.count
                // One-file saves alone do not start one (their commits write little log)…
                for index in 0..<3 {
                    let reply = try await ServerTest.upload(server, TestBundle.simple(files: ["f\(index).txt": "x"]))
                    #expect(reply.status == 200)
                }
                #expect(storage.checkpointer.count == before)
                // … a bundle of more than `thresholdRows` files does.
                var many: [String: String] = [:]
                for index in 0..<WALCheckpointer.thresholdRows { many["many/f\(index).txt"] = "\(index)" }
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: many)).status == 200)
                // No timed assertion: this fails only if checkpoints never run.
                for _ in 0..<3000 where storage.checkpointer.count <= before {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(storage.checkpointer.count > before)
                #expect(
                    try await ServerTest.manifestTree(server, workspace: "ws").tree.count
                        == 3 + WALCheckpointer.thresholdRows)
            }
        }
    }

    /// Derived state (the materialised and indexed sequences, the code graph) commits without
    /// a sync of its own, and the writer is back to syncing every commit right after: a bundle's
    /// commit is still synced, and a derived write that fails leaves it syncing too.
    @Test func derivedWritesLeaveEveryCommitSynced() async throws {
        try await withTemporaryDirectory("derived") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let storage = try #require(server.prepared.storage as? SQLiteStorage)
                func synchronous() async throws -> Int? {
                    try await storage.pool.writeWithoutTransaction { db in
                        try Int.fetchOne(db, sql: "PRAGMA synchronous")
                    }
                }
                let full = 2
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["a.txt": "a"])).status == 200)
                #expect(try await synchronous() == full)
                let inside = try await storage.writeDerived { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
                #expect(inside == 1)  // NORMAL: no sync at this commit
                #expect(try await synchronous() == full)
                await #expect(throws: DatabaseError.self) {
                    try await storage.writeDerived { db in try db.execute(sql: "INSERT INTO no_such_table VALUES (1)") }
                }
                #expect(try await synchronous() == full)
                // What the derived write committed is there.
                try await storage.setMaterializedSequence(workspace: "ws", sequence: 1)
                #expect(try await storage.workspace("ws")?.materializedSequence == 1)
            }
        }
    }
}
