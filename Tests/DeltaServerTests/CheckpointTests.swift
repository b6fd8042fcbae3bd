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
}
