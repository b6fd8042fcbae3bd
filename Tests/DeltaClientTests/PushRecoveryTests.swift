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
            let pushed = Task { try await session.run() }
            await retried.wait()  // the client has failed at least once against the absent server
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
            let crashing = try ServerProcess(
                workDirectory: work, environment: ["DELTASYNC_FAILPOINT": "after-validate"])
            let port = crashing.port
            let retried = RetrySignal()
            let configuration = PushConfiguration(
                root: tree.root, serverURL: crashing.baseURL, workspaceName: "ws",
                retry: RetryPolicy(maxRetries: 200, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
            )
            let session = PushSession(configuration: configuration, logger: PushTest.logger) { progress in
                if progress.retryMessage != nil { retried.fire() }
            }
            let pushed = Task { try await session.run() }
            #expect(crashing.waitForExit() == 137)  // died in the middle of applying our upload
            await retried.wait()
            let restarted = try ServerProcess(workDirectory: work, arguments: ["--port", String(port)])
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
            let server = try ServerProcess(workDirectory: work)
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
}

/// Fires once; waiters resume after the first fire.
final class RetrySignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream() }

    func fire() { continuation.yield() }

    func wait() async {
        for await _ in stream { return }
    }
}

/// A port nothing listens on right now (bound, read and closed).
enum FreePort {
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw DeltaError(.io, "cannot pick a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
