import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaClient

/// `deltasync pull`: a replica that converges to the server — bootstrap, feed, live stream,
/// conflict copies, re-bootstrap after compaction.
@Suite struct PullTests {
    static func configuration(_ mirror: String, _ server: TestServer) -> PullConfiguration {
        PullConfiguration(
            root: mirror, serverURL: server.baseURL, workspace: "ws",
            retry: RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200)))
    }

    static func pull(_ mirror: String, _ server: TestServer) async throws -> PullReport {
        try await PullSession(configuration: configuration(mirror, server), logger: PushTest.logger).run()
    }

    static func snapshot(_ root: String) throws -> [String: String] {
        try WorkspaceTree.snapshot(root, excluding: [".deltasync"])
    }

    /// Polls (up to 10 s) until the mirror equals the source.
    static func converged(_ source: WorkspaceTree, _ mirror: String) async throws -> Bool {
        for _ in 0..<500 {
            // The mirror may change under the read (a file renamed away mid-snapshot): read again.
            if let mirrored = try? snapshot(mirror), mirrored == (try snapshot(source.root)) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func bootstrapThenTheFeedKeepAReplicaWithExecBits() async throws {
        try await withTemporaryDirectory("pull") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("a.txt", "a")
                try source.write("src/lib/b.swift", "let b = 1\n")
                try source.write("bin/run.sh", "#!/bin/sh\n", mode: 0o755)
                try await PushTest.push(source, server)
                let mirror = directory.sub("mirror")
                let first = try await Self.pull(mirror, server)
                #expect(first.rebootstrapped && first.filesWritten == 3 && first.sequence == 1)
                #expect(try Self.snapshot(mirror) == Self.snapshot(source.root))

                try source.write("a.txt", "edited")
                try source.move("src/lib", "src/library")
                source.remove("bin/run.sh")
                try source.write("tools/new.sh", "#!/bin/sh\necho\n", mode: 0o755)
                try await PushTest.push(source, server)
                let second = try await Self.pull(mirror, server)
                #expect(!second.rebootstrapped && second.filesDeleted >= 2)
                #expect(try Self.snapshot(mirror) == Self.snapshot(source.root))
                #expect(second.sequence == 2)

                let again = try await Self.pull(mirror, server)
                #expect(again.filesWritten == 0 && again.filesDeleted == 0 && again.sequence == 2)
            }
        }
    }

    @Test func followAppliesChangesAsTheyCommit() async throws {
        try await withTemporaryDirectory("follow") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("a.txt", "a")
                try await PushTest.push(source, server)
                let mirror = directory.sub("mirror")
                let session = try PullSession(
                    configuration: Self.configuration(mirror, server), logger: PushTest.logger)
                let following = Task { try await session.follow() }
                #expect(try await Self.converged(source, mirror))
                for round in 0..<5 {
                    try source.write("r\(round)/f.txt", "round \(round)")
                    if round > 0 { source.remove("r\(round - 1)") }
                    try await PushTest.push(source, server)
                    #expect(try await Self.converged(source, mirror), "round \(round)")
                }
                following.cancel()
                _ = try? await following.value
            }
        }
    }

    /// A file edited in the replica is kept as `NAME.deltasync-conflict-<sequence>` before the
    /// server's version replaces it; unedited files are simply updated.
    @Test func aLocalEditIsKeptAsideNeverOverwritten() async throws {
        try await withTemporaryDirectory("conflict") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("shared.txt", "v1")
                try source.write("other.txt", "o1")
                try await PushTest.push(source, server)
                let mirror = directory.sub("mirror")
                _ = try await Self.pull(mirror, server)
                try "edited in the replica".write(toFile: mirror + "/shared.txt", atomically: true, encoding: .utf8)

                try source.write("shared.txt", "v2")
                try source.write("other.txt", "o2")
                try await PushTest.push(source, server)
                let report = try await Self.pull(mirror, server)
                #expect(report.conflicts == ["shared.txt.deltasync-conflict-2"])
                #expect(try String(contentsOfFile: mirror + "/shared.txt", encoding: .utf8) == "v2")
                #expect(
                    try String(contentsOfFile: mirror + "/shared.txt.deltasync-conflict-2", encoding: .utf8)
                        == "edited in the replica")
                #expect(try String(contentsOfFile: mirror + "/other.txt", encoding: .utf8) == "o2")

                // `status` reports the conflict copy (JSON and text) until the user removes it.
                let status = ["status", mirror, "--server", server.baseURL, "--workspace", "ws"]
                let json = try await ServerProcess.run(status + ["--json"])
                #expect(json.status == 0, "\(json.stderr)")
                let listed = try JSONDecoder().decode(ClientStatus.self, from: Data(json.stdout.utf8))
                #expect(listed.conflicts.map(\.path) == ["shared.txt"])
                #expect(listed.conflicts.map(\.keptAs) == ["shared.txt.deltasync-conflict-2"])
                #expect(listed.conflicts.map(\.sequence) == [2])
                let text = try await ServerProcess.run(status)
                #expect(text.stdout.contains("shared.txt -> shared.txt.deltasync-conflict-2 (server sequence 2)"))
                try FileManager.default.removeItem(atPath: mirror + "/shared.txt.deltasync-conflict-2")
                let resolved = try await ServerProcess.run(status + ["--json"])
                #expect(try JSONDecoder().decode(ClientStatus.self, from: Data(resolved.stdout.utf8)).conflicts.isEmpty)
            }
        }
    }

    /// A path with nothing at it when planned is renamed into place without replacing: a file
    /// created there meanwhile (after the path is marked in flight) is kept aside, not lost.
    @Test func aFileCreatedLocallyDuringTheBootstrapIsKeptAside() async throws {
        try await withTemporaryDirectory("race") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("new.txt", "from the server")
                try source.write("dir/deep.txt", "deep")
                try await PushTest.push(source, server)
                let mirror = directory.sub("mirror")
                var configuration = Self.configuration(mirror, server)
                configuration.beforeRenaming = { paths in
                    guard paths.contains("new.txt") else { return }
                    try? "made in the replica".write(toFile: mirror + "/new.txt", atomically: false, encoding: .utf8)
                }
                let report = try await PullSession(configuration: configuration, logger: PushTest.logger).run()
                #expect(report.conflicts == ["new.txt.deltasync-conflict-1"])
                #expect(try String(contentsOfFile: mirror + "/new.txt", encoding: .utf8) == "from the server")
                #expect(
                    try String(contentsOfFile: mirror + "/new.txt.deltasync-conflict-1", encoding: .utf8)
                        == "made in the replica")
                #expect(try String(contentsOfFile: mirror + "/dir/deep.txt", encoding: .utf8) == "deep")
                // Nothing staged is left beside the targets.
                let names = try FileManager.default.contentsOfDirectory(atPath: mirror)
                #expect(!names.contains { $0.hasPrefix(".deltasync-tmp-") })
            }
        }
    }

    @Test func aCompactedCursorStartsAgainFromTheManifest() async throws {
        try await withTemporaryDirectory("rebootstrap") { directory in
            try await TestServer.with(workDirectory: directory.sub("server"), configure: { $0.retainChanges = 1 }) {
                server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("a.txt", "a")
                try await PushTest.push(source, server)
                let mirror = directory.sub("mirror")
                _ = try await Self.pull(mirror, server)
                for round in 0..<3 {
                    try source.write("f\(round).txt", "\(round)")
                    try await PushTest.push(source, server)
                }
                let report = try await Self.pull(mirror, server)
                #expect(report.rebootstrapped && report.sequence == 4)
                #expect(try Self.snapshot(mirror) == Self.snapshot(source.root))
            }
        }
    }

    /// Downloads are staged beside their targets; what a killed pull left there (listed in the
    /// state directory before it fetched) is removed by the next run, and nothing else is.
    @Test func stagedDownloadsAKilledPullLeftAreRemoved() async throws {
        try await withTemporaryDirectory("staging") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("top.txt", "top")
                try source.write("src/lib/a.c", "int a;\n")
                try await PushTest.push(source, server)
                let mirror = directory.sub("mirror")
                _ = try await Self.pull(mirror, server)
                #expect(!FileManager.default.fileExists(atPath: mirror + "/.deltasync/pull-staging"))

                // What a pull killed mid-fetch leaves: staged files and the list naming their directories.
                let left = try WorkspaceTree(root: mirror)
                try left.write("src/lib/.deltasync-tmp-0A1B", "half a download")
                try left.write(".deltasync-tmp-FFFF", "another")
                try left.write("src/lib/deltasync-tmp-mine.txt", "a local file, not staged")
                try FileSystem.writeAtomically(mirror + "/.deltasync/pull-staging", Array("\nsrc/lib".utf8))
                let report = try await Self.pull(mirror, server)
                #expect(report.filesWritten == 0)
                var mirrored = try Self.snapshot(mirror)
                #expect(mirrored.removeValue(forKey: "src/lib/deltasync-tmp-mine.txt") != nil)
                #expect(mirrored == (try Self.snapshot(source.root)))
                #expect(!FileManager.default.fileExists(atPath: mirror + "/.deltasync/pull-staging"))
            }
        }
    }

    @Test func theCommandPrintsAJSONReport() async throws {
        try await withTemporaryDirectory("pull-cli") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("a.txt", "a")
                try await PushTest.push(source, server)
                let mirror = directory.sub("mirror")
                let result = try await ServerProcess.run([
                    "pull", mirror, "--server", server.baseURL, "--workspace", "ws", "--json",
                ])
                #expect(result.status == 0, "\(result.stderr)")
                let report = try JSONDecoder().decode(PullReport.self, from: Data(result.stdout.utf8))
                #expect(report.sequence == 1 && report.filesWritten == 1)
                #expect(try Self.snapshot(mirror) == Self.snapshot(source.root))
                let missing = try await ServerProcess.run(["pull", mirror, "--server", server.baseURL])
                #expect(missing.status != 0 && missing.stderr.contains("pull needs --workspace NAME"))
            }
        }
    }
}
