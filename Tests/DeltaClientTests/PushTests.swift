@testable import DeltaClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Synchronization
import Testing

/// End to end against the real server: after every push the server's copy equals the directory.
@Suite struct PushTests {
    @Test func sequenceOfChangesConverges() async throws {
        try await withTemporaryDirectory("push") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("README.md", "# hello\n")
                try tree.write("src/main.swift", "print(1)\n")
                try tree.write("bin/tool.sh", "#!/bin/sh\necho hi\n", mode: 0o755)
                try tree.write("empty.txt", [])
                try tree.write("data/blob.bin", (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
                try tree.write("ünïcødé/文件 with spaces.txt", "unicode\n")
                try tree.write((1...40).map { "d\($0)" }.joined(separator: "/") + "/deep.txt", "deep\n")
                try tree.write(".gitignore", "*.log\nbuild/\n")
                try tree.write("debug.log", "ignored\n")
                try tree.write("build/out.o", "ignored\n")
                try tree.write("node_modules/pkg/index.js", "ignored by default\n")

                let first = try await PushTest.push(tree, server)
                #expect(first.created == 8)
                #expect(first.sequence == 1)
                try PushTest.expectInSync(
                    tree, server, ignoring: ["debug.log", "build/out.o", "node_modules/pkg/index.js"])

                // Nothing changed: nothing sent.
                let idle = try await PushTest.push(tree, server)
                #expect(idle.bundles == 0 && idle.filesHashed == 0)

                try tree.write("src/main.swift", "print(2)\n")
                tree.remove("empty.txt")
                try tree.move("README.md", "docs/README.md")
                chmod(tree.root + "/src/main.swift", 0o755)  // mode change rides along with the edit
                let second = try await PushTest.push(tree, server)
                #expect(second.updated == 1 && second.deleted == 1 && second.moved == 1 && second.created == 0)
                try PushTest.expectInSync(
                    tree, server, ignoring: ["debug.log", "build/out.o", "node_modules/pkg/index.js"])

                // Mode-only change is an update.
                chmod(tree.root + "/bin/tool.sh", 0o644)
                let modeOnly = try await PushTest.push(tree, server)
                #expect(modeOnly.updated == 1)

                // A file that becomes ignored is deleted on the server; an un-ignored one is created.
                try tree.write(".gitignore", "build/\nsrc/\n")
                let ignored = try await PushTest.push(tree, server)
                #expect(ignored.deleted == 1 && ignored.created == 1 && ignored.updated == 1)
                try PushTest.expectInSync(
                    tree, server, ignoring: ["build/out.o", "node_modules/pkg/index.js", "src/main.swift"]
                )
            }
        }
    }

    @Test func renamedDirectoryIsSentAsMovesWithoutContent() async throws {
        try await withTemporaryDirectory("rename") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                for index in 0..<500 {
                    try tree.write(
                        "old/dir/file\(index).txt", "content of file \(index) " + String(repeating: "x", count: 2000))
                }
                let first = try await PushTest.push(tree, server)
                #expect(first.created == 500)
                try tree.move("old/dir", "new/place")
                let moved = try await PushTest.push(tree, server)
                #expect(moved.moved == 500 && moved.created == 0 && moved.deleted == 0)
                // The files' content is over 1 MB; the 500 moves' metadata, sent uncompressed on
                // loopback, is about 160 KB.
                #expect(moved.bytesSent < 256 * 1024, "a rename sends no content: \(moved.bytesSent) bytes")
                try PushTest.expectInSync(tree, server)
                let log = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=1").decode(
                    ChangesResponse.self)
                #expect(log.changes.first?.operations.allSatisfy { $0.operation == .moved } == true)
            }
        }
    }

    @Test func skippedPathsAreReportedAndDoNotBlockTheRest() async throws {
        try await withTemporaryDirectory("skipped") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("ok.txt", "fine")
                symlink("ok.txt", tree.root + "/link.txt")
                symlink("/etc", tree.root + "/etc-link")
                let badName = tree.root + "/bad-\u{1}-name.txt"
                try FileSystem.writeAtomically(badName, Array("x".utf8))
                let report = try await PushTest.push(tree, server)
                #expect(report.created == 1)
                let skipped = Set(report.skipped.map(\.path))
                #expect(skipped.contains("link.txt") && skipped.contains("etc-link"))
                #expect(report.skipped.count == 3)
                let (_, remote) = try await ServerTestTree.manifest(server)
                #expect(Set(remote.keys) == ["ok.txt"])
            }
        }
    }

    /// The `push` CLI lists skipped paths once, in its summary, on every push (a no-change one
    /// replays them from the snapshot): never also as one warning line each on stderr.
    @Test func thePushCommandListsSkippedPathsOnce() async throws {
        try await withTemporaryDirectory("skipped-cli") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("ok.txt", "fine")
                symlink("ok.txt", tree.root + "/link.txt")
                for round in ["first", "no change"] {
                    let push = try await ServerProcess.run(
                        ["push", tree.root, "--server", server.baseURL, "--workspace", "ws"])
                    #expect(push.status == 0, "\(round): \(push.stderr)")
                    #expect(push.stdout.contains("skipped link.txt: symlink"), "\(round): \(push.stdout)")
                    #expect(!push.stderr.contains("skipped"), "\(round): \(push.stderr)")
                }
                let (_, remote) = try await ServerTestTree.manifest(server)
                #expect(Set(remote.keys) == ["ok.txt"])
            }
        }
    }

    /// A first push queues each bundle as soon as its files are hashed (while the ones before it
    /// upload) and still sends the bundles one detection of the whole tree would make: none more,
    /// none cut short where a run of hashed files ended.
    @Test func aFirstPushSendsTheBundlesOfOneWholeDetection() async throws {
        try await withTemporaryDirectory("first") { directory in
            try await TestServer.with(
                workDirectory: directory.sub("server"), configure: { $0.limits.maxCompressedBytes = 2 << 20 }
            ) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                var random = SplitMix64(seed: 42)
                for index in 0..<60 {
                    let size = 10_000 + Int(random.next() % 80_000)
                    try tree.write(
                        "d\(index % 5)/f\(index).bin", (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) })
                }
                let scanned = try TreeScanner(root: tree.root, ignore: IgnoreRules(root: tree.root)).scan().files
                let whole = ChangeDetector(root: tree.root).detect(scanned: scanned, base: [:])
                let planned = BundlePlanner(
                    root: tree.root, info: ServerInfo(version: "test", limits: server.configuration.limits)
                ).plan(whole)
                #expect(planned.count >= 3)
                // Queued as hashed, the bundles never go through a separate bundling phase.
                let phases = Mutex<Set<PushProgress.Phase>>([])
                let report = try await PushSession(
                    configuration: PushTest.configuration(tree, server), logger: PushTest.logger,
                    progress: { progress in _ = phases.withLock { $0.insert(progress.phase) } }
                ).run()
                #expect(report.created == 60)
                #expect(report.bundles == planned.count)
                #expect(phases.withLock { $0.contains(.hashing) && $0.contains(.uploading) && !$0.contains(.bundling) })
                try PushTest.expectInSync(tree, server)
                let again = try await PushTest.push(tree, server)
                #expect(again.bundles == 0 && again.created == 0)
            }
        }
    }

    @Test func largeChangeSetsAreSplitUnderTheServerLimit() async throws {
        try await withTemporaryDirectory("split") { directory in
            try await TestServer.with(
                workDirectory: directory.sub("server"), configure: { $0.limits.maxCompressedBytes = 2 << 20 }
            ) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                var generator = SystemRandomNumberGenerator()
                for index in 0..<12 {
                    try tree.write(
                        "chunk\(index).bin", (0..<400_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
                }
                let report = try await PushTest.push(tree, server)
                #expect(report.bundles >= 3)
                #expect(report.created == 12)
                try PushTest.expectInSync(tree, server)
            }
        }
    }
}

/// Reads the server's manifest as `{path: sha256}`.
enum ServerTestTree {
    static func manifest(_ server: TestServer, workspace: String = "ws") async throws -> (Int64, [String: String]) {
        let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace=\(workspace)").decode(
            ManifestResponse.self)
        return (
            manifest.sequence, Dictionary(uniqueKeysWithValues: manifest.files.map { ($0.path, $0.contentHash.hex) })
        )
    }
}
