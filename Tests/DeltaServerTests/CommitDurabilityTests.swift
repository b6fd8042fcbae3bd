import DeltaCore
import DeltaTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

@testable import DeltaServer

/// A bundle's commit writes its rows while its blobs are flushed, and waits for the flush only
/// before it commits: nothing is visible until then, a failed flush commits nothing, and the
/// wait happens whatever the transaction found (the flush itself: `BlobStoreTests`).
@Suite struct CommitDurabilityTests {
    static func commit(bundleID: String, sequence: Int64, path: String) -> BundleCommit {
        let sha256 = String(repeating: "ab", count: 32)
        let operation = ChangeOperation(
            operation: .created, path: path, sourcePath: nil, contentHash: ContentHash(algorithm: .sha256, hex: sha256),
            sizeBytes: 1, mode: 0o644)
        return BundleCommit(
            workspace: "ws", workspacePath: nil, collectionName: "ws", sequence: sequence,
            change: ChangeRecord(
                sequence: sequence, bundleID: bundleID, bundleSHA256: String(repeating: "cd", count: 32), bundleSize: 1,
                appliedAt: Timestamp.now(), counts: OperationCounts(created: 1), operations: [operation],
                processingTimeMs: 1),
            fileChanges: [
                .upsert(
                    FileRecord(
                        path: path, sha256: sha256, sha1: String(repeating: "ef", count: 20), size: 1, mode: 0o644))
            ]
        )
    }

    @Test func theRowsWaitForTheBlobsAndAFailedFlushCommitsNothing() async throws {
        try await withTemporaryDirectory("commit-wait") { directory in
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            let calls = Atomic<Int>(0)

            // The flush fails: the rows written before it are rolled back.
            await #expect(throws: DeltaError.self) {
                _ = try await storage.commit(Self.commit(bundleID: "one", sequence: 1, path: "a.txt")) {
                    calls.add(1, ordering: .relaxed)
                    throw DeltaError(.io, "syncfs failed")
                }
            }
            #expect(calls.load(ordering: .relaxed) == 1)
            #expect(try await storage.workspace("ws") == nil)
            #expect(try await storage.files(workspace: "ws").files.isEmpty)
            #expect(try await storage.changes(workspace: "ws", since: 0, limit: 10).isEmpty)

            // While the commit waits, a reader still sees the table as it was.
            let seenWhileWaiting = Mutex<Int?>(nil)
            let outcome = try await storage.commit(Self.commit(bundleID: "one", sequence: 1, path: "a.txt")) {
                calls.add(1, ordering: .relaxed)
                let count = try storage.pool.read { db in
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file WHERE workspace = 'ws'")
                }
                seenWhileWaiting.withLock { $0 = count }
            }
            guard case .committed = outcome else {
                Issue.record("expected a commit, got \(outcome)")
                return
            }
            #expect(seenWhileWaiting.withLock { $0 } == 0)
            #expect(try await storage.workspace("ws")?.lastSequence == 1)
            #expect(try await storage.files(workspace: "ws").files.map(\.path) == ["a.txt"])

            // A replay is found inside the transaction: it still waits for its flush.
            let replay = try await storage.commit(Self.commit(bundleID: "one", sequence: 2, path: "b.txt")) {
                calls.add(1, ordering: .relaxed)
            }
            guard case .duplicate(let existing) = replay else {
                Issue.record("expected a duplicate, got \(replay)")
                return
            }
            #expect(existing.sequence == 1)
            #expect(calls.load(ordering: .relaxed) == 3)
            #expect(try await storage.files(workspace: "ws").files.map(\.path) == ["a.txt"])
        }
    }
}
