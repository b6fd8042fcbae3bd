@testable import DeltaClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// A large uncompressed bundle waits in the outbox as its source list, not as a copy: replayed
/// whole while its files are unchanged, given up and reconciled when one changed before it went
/// up, and never applied with content other than the one recorded.
@Suite struct SourceListOutboxTests {
    /// Four files of 400 KB (over `Outbox.sourceListThreshold` together) and a few small ones.
    static func writeLargeTree(_ tree: WorkspaceTree, seed: UInt8 = 0) throws {
        for index in 0..<4 {
            try tree.write(
                "big/\(index).bin", (0..<400_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) &+ seed })
        }
        try tree.write("small/a.txt", "a\n")
        try tree.write("small/b.txt", "b\n")
    }

    /// The bytes the outbox directory holds.
    static func outboxBytes(_ tree: WorkspaceTree) throws -> Int64 {
        let directory = tree.root + "/.deltasync/outbox"
        return try FileManager.default.contentsOfDirectory(atPath: directory).reduce(0) { total, name in
            total + (try RawFile.open(reading: directory + "/" + name).size())
        }
    }

    /// A `push` killed right after its bundle was queued, which must be one source list.
    static func pushKilledAfterQueueing(_ tree: WorkspaceTree, _ server: TestServer) async throws -> ClientState {
        let killed = try await ServerProcess.run(
            ["push", tree.root, "--server", server.baseURL, "--workspace", "ws"],
            environment: ["DELTASYNC_CLIENT_FAILPOINT": "after-outbox"])
        #expect(killed.status == 137)
        let state = try ClientState(directory: tree.root + "/.deltasync")
        #expect(try state.pending().map { $0.file.hasSuffix(BundleSources.fileExtension) } == [true])
        return state
    }

    @Test func aLargeBundleIsKeptAsItsSourceListAndArrivesWhole() async throws {
        try await withTemporaryDirectory("source-list") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeLargeTree(tree)
                let report = try await PushTest.push(tree, server)
                #expect(report.bundles == 1 && report.sequence == 1)
                #expect(report.bytesSent > 1_600_000)
                try PushTest.expectInSync(tree, server)
                let state = try ClientState(directory: tree.root + "/.deltasync")
                let kept = try state.retained()
                #expect(kept.map { $0.file.hasSuffix(BundleSources.fileExtension) } == [true])
                #expect(kept.allSatisfy(state.isIntact))
                // No copy of the 1.6 MB of content.
                #expect(try Self.outboxBytes(tree) < 16_000)
            }
        }
    }

    /// Killed after queueing: the next run sends the list's bundle as it was recorded, once.
    @Test func aPendingListIsReplayedOnceWhenNothingChanged() async throws {
        try await withTemporaryDirectory("list-replay") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeLargeTree(tree)
                let state = try await Self.pushKilledAfterQueueing(tree, server)

                let again = try await ServerProcess.run([
                    "push", tree.root, "--server", server.baseURL, "--workspace", "ws", "--json",
                ])
                #expect(again.status == 0, "\(again.stderr)")
                let report = try JSONDecoder().decode(PushReport.self, from: Data(again.stdout.utf8))
                #expect(!report.resynced && report.sequence == 1)
                try PushTest.expectInSync(tree, server)
                #expect(try state.pending().isEmpty)
            }
        }
    }

    /// A file edited after its bundle was queued: the stale bundle stops before it is whole, the
    /// server applies none of it, and the push reconciles and sends the file as it is now.
    @Test func aListWhoseFileChangedIsGivenUpAndReconciled() async throws {
        try await withTemporaryDirectory("list-changed") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("before.txt", "already on the server\n")
                try await PushTest.push(tree, server)
                try Self.writeLargeTree(tree)
                let state = try await Self.pushKilledAfterQueueing(tree, server)
                // Same size, other bytes, written in place.
                let edited = (0..<400_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
                let file = try RawFile.create(tree.root + "/big/2.bin")
                try file.write(edited)

                let again = try await ServerProcess.run([
                    "push", tree.root, "--server", server.baseURL, "--workspace", "ws", "--json", "--log-level",
                    "notice",
                ])
                #expect(again.status == 0, "\(again.stderr)")
                #expect(again.stderr.contains("a file changed after its bundle was queued"), "\(again.stderr)")
                let report = try JSONDecoder().decode(PushReport.self, from: Data(again.stdout.utf8))
                #expect(report.resynced && report.sequence == 2)
                try PushTest.expectInSync(tree, server)
                #expect(try state.pending().isEmpty)
                // The stale content never reached the server: one change after the first push,
                // carrying the file as it is now.
                let log = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws").decode(
                    ChangesResponse.self)
                #expect(log.changes.map(\.sequence) == [1, 2])
                let sent = log.changes.last?.operations.first { $0.path == "big/2.bin" }
                #expect(sent?.contentHash?.hex == TestBundle.sha256(edited).hex)
            }
        }
    }

    /// Bundles kept after acknowledgement are lists too; when a server restored from a backup
    /// asks for them again after their files changed, the push reconciles instead of failing.
    @Test func aKeptListWhoseFilesChangedIsNotReplayed() async throws {
        try await withTemporaryDirectory("list-kept") { directory in
            let work = directory.sub("server")
            let tree = try WorkspaceTree(root: directory.sub("ws"))
            try await TestServer.with(workDirectory: work) { server in
                try tree.write("first.txt", "first\n")
                try await PushTest.push(tree, server)
            }
            // The server's state as of sequence 1: a backup.
            let backup = directory.sub("backup")
            try FileManager.default.copyItem(atPath: work, toPath: backup)
            try await TestServer.with(workDirectory: work) { server in
                try Self.writeLargeTree(tree)
                try await PushTest.push(tree, server)
            }
            try Self.writeLargeTree(tree, seed: 1)
            try FileManager.default.removeItem(atPath: work)
            try FileManager.default.moveItem(atPath: backup, toPath: work)
            try await TestServer.with(workDirectory: work) { server in
                let report = try await PushTest.push(tree, server)
                #expect(report.resynced)
                try PushTest.expectInSync(tree, server)
            }
        }
    }
}
