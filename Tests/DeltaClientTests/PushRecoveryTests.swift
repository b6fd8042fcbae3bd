@testable import DeltaClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// Recovery: lost client state, another writer, a server restored from a backup, the server down
/// or restarted mid-push, and the client killed between writing its outbox and uploading.
@Suite struct PushRecoveryTests {
    @Test func freshClientOnAnExistingWorkspaceUploadsOnlyTheDifference() async throws {
        try await withTemporaryDirectory("fresh") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                for index in 0..<200 {
                    try tree.write("f\(index).txt", String(repeating: "line \(index)\n", count: 100))
                }
                try await PushTest.push(tree, server)
                // The state is lost (new machine, wiped directory) and one file changed meanwhile.
                tree.remove(".deltasync")
                try tree.write("f7.txt", "edited\n")
                try tree.write("new.txt", "new\n")
                let report = try await PushTest.push(tree, server)
                #expect(report.resynced)
                #expect(report.created == 1 && report.updated == 1 && report.deleted == 0)
                #expect(report.bytesSent < 8 * 1024)
                try PushTest.expectInSync(tree, server)
            }
        }
    }

    @Test func anotherWriterMovesTheServerAheadAndThePushReconciles() async throws {
        try await withTemporaryDirectory("writer") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try await PushTest.push(tree, server)
                // Someone else uploads to the same workspace.
                let other = try await HTTP.upload(
                    server.baseURL,
                    bundle: TestBundle.simple(files: ["intruder.txt": "x"], updates: ["a.txt": "changed elsewhere"]),
                    fields: [("workspace", "ws")]
                )
                #expect(other.status == 200)
                try tree.write("b.txt", "b")
                let report = try await PushTest.push(tree, server)
                #expect(report.resynced)
                try PushTest.expectInSync(tree, server)  // the directory is the truth
            }
        }
    }

    @Test func serverRestoredFromAnOldBackupGetsTheLostBundlesReplayed() async throws {
        try await withTemporaryDirectory("backup") { directory in
            let work = directory.sub("server")
            let tree = try WorkspaceTree(root: directory.sub("ws"))
            try tree.write("one.txt", "1")
            try await TestServer.with(workDirectory: work) { server in
                try await PushTest.push(tree, server)
            }
            let backup = directory.sub("backup")
            try FileManager.default.copyItem(atPath: work, toPath: backup)
            try tree.write("two.txt", "2")
            try tree.write("three.txt", "3")
            try await TestServer.with(workDirectory: work) { server in
                let report = try await PushTest.push(tree, server)
                #expect(report.sequence == 2)
            }
            try FileManager.default.removeItem(atPath: work)
            try FileManager.default.moveItem(atPath: backup, toPath: work)
            try tree.write("four.txt", "4")
            try await TestServer.with(workDirectory: work) { server in
                let report = try await PushTest.push(tree, server)
                #expect(!report.resynced, "replayed from the outbox, no manifest diff needed")
                #expect(report.sequence == 3)
                try PushTest.expectInSync(tree, server)
            }
        }
    }

    @Test func serverDownDuringPushIsRetriedUntilItComesBack() async throws {
        try await withTemporaryDirectory("down") { directory in
            let port = try FreePort.pick()
            let tree = try WorkspaceTree(root: directory.sub("ws"))
            try tree.write("a.txt", "a")
            let retried = RetrySignal()
            var configuration = PushConfiguration(
                root: tree.root, serverURL: "http://127.0.0.1:\(port)", workspaceName: "ws",
                retry: RetryPolicy(maxRetries: 200, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
            )
            configuration.requestTimeout = .seconds(5)
            let session = PushSession(configuration: configuration, logger: PushTest.logger) { progress in
                if progress.retryMessage != nil { retried.fire() }
            }
            let pushed = Task {
                defer { retried.finish() }
                return try await session.run()
            }
            // The client has failed at least once against the absent server.
            if !(await retried.wait()) {
                Issue.record("the push ended without retrying: \(await pushed.result)")
                return
            }
            try await TestServer.with(workDirectory: directory.sub("server"), configure: { $0.port = port }) { server in
                let report = try await pushed.value
                #expect(report.created == 1 && report.sequence == 1)
                try PushTest.expectInSync(tree, server)
            }
        }
    }

    @Test func serverRestartedMidUploadIsRetried() async throws {
        try await withTemporaryDirectory("restart") { directory in
            let work = directory.sub("server")
            let tree = try WorkspaceTree(root: directory.sub("ws"))
            try tree.write("a.txt", "a")
            // A port no other test's server can be given while this one is down.
            let port = try FreePort.pick()
            let crashing = try await ServerProcess.start(
                workDirectory: work, arguments: ["--port", String(port)],
                environment: ["DELTASYNC_FAILPOINT": "after-validate"])
            let retried = RetrySignal()
            let configuration = PushConfiguration(
                root: tree.root, serverURL: crashing.baseURL, workspaceName: "ws",
                retry: RetryPolicy(maxRetries: 200, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
            )
            let session = PushSession(configuration: configuration, logger: PushTest.logger) { progress in
                if progress.retryMessage != nil { retried.fire() }
            }
            let pushed = Task {
                defer { retried.finish() }
                return try await session.run()
            }
            #expect(await crashing.waitForExit() == 137)  // died in the middle of applying our upload
            if !(await retried.wait()) {
                Issue.record("the push ended without retrying: \(await pushed.result)")
                return
            }
            let restarted = try await ServerProcess.start(workDirectory: work, arguments: ["--port", String(port)])
            defer { restarted.stop() }
            let report = try await pushed.value
            #expect(report.sequence == 1)
            let remote = try WorkspaceTree.snapshot(work + "/workspaces/ws")
            #expect(remote == (try WorkspaceTree.snapshot(tree.root, excluding: [".deltasync"])))
        }
    }

    @Test func clientKilledBetweenOutboxAndUploadConvergesWithoutDoubleApply() async throws {
        try await withTemporaryDirectory("killed") { directory in
            let work = directory.sub("server")
            let server = try await ServerProcess.start(workDirectory: work)
            defer { server.stop() }
            let tree = try WorkspaceTree(root: directory.sub("ws"))
            try tree.write("a.txt", "a")
            try tree.write("b/c.txt", "c")
            let killed = try await ServerProcess.run(
                ["push", tree.root, "--server", server.baseURL, "--workspace", "ws"],
                environment: ["DELTASYNC_CLIENT_FAILPOINT": "after-outbox"]
            )
            #expect(killed.status == 137)
            let pending = try await ServerProcess.run([
                "status", tree.root, "--server", server.baseURL, "--workspace", "ws", "--json",
            ])
            let status = try JSONDecoder().decode(ClientStatus.self, from: Data(pending.stdout.utf8))
            #expect(status.pendingBundles == 1 && !status.idle)
            #expect(status.serverSequence == 0, "\(status.serverError ?? "")")

            try tree.write("d.txt", "written while the client was down")
            let again = try await ServerProcess.run([
                "push", tree.root, "--server", server.baseURL, "--workspace", "ws", "--json",
            ])
            #expect(again.status == 0, "\(again.stderr)")
            let report = try JSONDecoder().decode(PushReport.self, from: Data(again.stdout.utf8))
            #expect(report.sequence == 2)  // the replayed bundle and the new one, each applied once
            let log = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws").decode(
                ChangesResponse.self)
            #expect(log.changes.count == 2)
            #expect(
                try WorkspaceTree.snapshot(work + "/workspaces/ws")
                    == (try WorkspaceTree.snapshot(tree.root, excluding: [".deltasync"])))
            let idle = try await ServerProcess.run([
                "status", tree.root, "--server", server.baseURL, "--workspace", "ws", "--json",
            ])
            #expect(try JSONDecoder().decode(ClientStatus.self, from: Data(idle.stdout.utf8)).idle)
        }
    }

    /// A bundle is fsynced while it uploads, so a power loss before that can leave its outbox
    /// entry with the file gone or cut short. The next run drops the entry, says so, and
    /// reconciles with the server's manifest: the changes it carried still arrive, once.
    @Test(arguments: [false, true])
    func anOutboxBundleLostBeforeItReachedTheDiskIsReconciled(cutShort: Bool) async throws {
        try await withTemporaryDirectory("lost-bundle") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try tree.write("b/c.txt", "c")
                try await PushTest.push(tree, server)
                try tree.write("a.txt", "edited before the power loss")
                try tree.write("new.txt", "created before the power loss")
                tree.remove("b/c.txt")
                let killed = try await ServerProcess.run(
                    ["push", tree.root, "--server", server.baseURL, "--workspace", "ws"],
                    environment: ["DELTASYNC_CLIENT_FAILPOINT": "after-outbox"])
                #expect(killed.status == 137)
                // What a power loss before the fsync leaves: the entry, without its bytes.
                let state = try ClientState(directory: tree.root + "/.deltasync")
                let pending = try state.pending()
                try #require(pending.count == 1)
                let path = state.outboxPath(pending[0].file)
                if cutShort { #expect(truncate(path, 10) == 0) } else { #expect(unlink(path) == 0) }

                let again = try await ServerProcess.run([
                    "push", tree.root, "--server", server.baseURL, "--workspace", "ws", "--json",
                ])
                #expect(again.status == 0, "\(again.stderr)")
                #expect(again.stderr.contains("did not reach the disk"), "\(again.stderr)")
                let report = try JSONDecoder().decode(PushReport.self, from: Data(again.stdout.utf8))
                #expect(report.resynced && report.sequence == 2)
                try PushTest.expectInSync(tree, server)
                #expect(try state.pending().isEmpty)
            }
        }
    }
}

/// Fired by the push's progress callback on each retry; `finish()`ed when the push ends, so a push
/// that never retries fails the test instead of leaving it waiting.
final class RetrySignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream() }

    func fire() { continuation.yield() }

    func finish() { continuation.finish() }

    /// Whether a retry happened before the push ended.
    func wait() async -> Bool {
        for await _ in stream { return true }
        return false
    }
}
