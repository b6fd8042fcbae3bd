import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaClient

/// A writer (`watch`) and two mirrors (`pull --follow`, one of them a real process killed with
/// SIGKILL at random points and restarted) under seeded random operations on files and
/// directories converge to byte-identical trees with the same exec bits. The seed is printed on
/// failure; `DELTASYNC_SEED=N` replays one.
@Suite struct ConvergenceTests {

    /// One random operation on the tree: create, edit, chmod, delete, rename a file, rename or
    /// delete a directory.
    static func mutate(_ tree: WorkspaceTree, _ random: inout SplitMix64, step: Int) throws {
        let directories = ["a", "a/b", "c", "d/e/f"]
        let files = (try? WorkspaceTree.snapshot(tree.root, excluding: [".deltasync"]).keys.sorted()) ?? []
        let pick = Int.random(in: 0..<100, using: &random)
        switch pick {
        case 0..<35 where files.count < 60, 0..<10:
            let directory = directories.randomElement(using: &random) ?? "a"
            let mode: mode_t = Bool.random(using: &random) && pick % 3 == 0 ? 0o755 : 0o644
            try tree.write("\(directory)/f\(step).txt", created(at: step), mode: mode)
        case 0..<60:
            guard let file = files.randomElement(using: &random) else { return }
            try tree.write(file, edited(at: step))
        case 60..<68:
            guard let file = files.randomElement(using: &random) else { return }
            chmod(tree.root + "/" + file, Bool.random(using: &random) ? 0o755 : 0o644)
        case 68..<80:
            guard let file = files.randomElement(using: &random) else { return }
            tree.remove(file)
        case 80..<92:
            guard let file = files.randomElement(using: &random) else { return }
            let directory = directories.randomElement(using: &random) ?? "a"
            try FileSystem.createDirectory(tree.root + "/" + directory)
            rename(tree.root + "/" + file, tree.root + "/\(directory)/moved\(step).txt")
        case 92..<97:
            let directory = ["a/b", "c", "d/e"].randomElement(using: &random) ?? "c"
            guard FileSystem.exists(tree.root + "/" + directory) else { return }
            rename(tree.root + "/" + directory, tree.root + "/renamed\(step)")
        default:
            let directory = ["c", "renamed"].randomElement(using: &random) ?? "c"
            tree.remove(directory)
        }
    }

    /// What `mutate` writes: each text names the step, so a diagnostic can name a content hash.
    static func created(at step: Int) -> String { "step \(step)\n" }
    static func edited(at step: Int) -> String { "edited at \(step)\n" }

    @Test func aWriterAndTwoMirrorsConvergeUnderRandomOperations() async throws {
        let seed =
            ProcessInfo.processInfo.environment["DELTASYNC_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 1...1 << 40)
        try await withTemporaryDirectory("converge") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let source = try WorkspaceTree(root: directory.sub("source"))
                try source.write("a/seed.txt", "seed \(seed)\n")
                let mirrorA = directory.sub("mirror-a")
                let mirrorB = directory.sub("mirror-b")
                let followerA = try PullSession(
                    configuration: PullTests.configuration(mirrorA, server), logger: PushTest.logger)
                let following = Task { try await followerA.follow() }
                try await WatchTests.watching(PushTest.configuration(source, server)) { session in
                    var random = SplitMix64(seed: seed)
                    var killed = 0
                    var mirrorProcess = try Self.startMirror(mirrorB, server)
                    for step in 0..<2000 {
                        try Self.mutate(source, &random, step: step)
                        if step % 100 == 99 {
                            await WatchTests.settle(session)
                            // SIGKILL the process mirror at an arbitrary point and start it again.
                            kill(mirrorProcess.processIdentifier, SIGKILL)
                            mirrorProcess.waitUntilExit()
                            killed += 1
                            mirrorProcess = try Self.startMirror(mirrorB, server)
                        }
                    }
                    await WatchTests.settle(session)
                    let convergedA = try await PullTests.converged(source, mirrorA)
                    let convergedB = try await PullTests.converged(source, mirrorB)
                    #expect(convergedA, "seed \(seed): mirror A differs")
                    #expect(convergedB, "seed \(seed): mirror B differs")
                    if !convergedA || !convergedB {
                        let trees = [
                            "mirror A": mirrorA, "mirror B": mirrorB,
                            "server": server.configuration.workDirectory + "/workspaces/ws",
                        ]
                        let report = try await Self.whereTheyDiffer(source, trees, session.engine.state, server)
                        Issue.record("seed \(seed):\n\(report)")
                    }
                    kill(mirrorProcess.processIdentifier, SIGKILL)
                    mirrorProcess.waitUntilExit()
                    #expect(killed == 20)
                }
                following.cancel()
                _ = try? await following.value
            }
        }
    }

    /// For each path where a tree differs from the source: what every side holds (these files
    /// are one short line each), the watcher's file-table row, and every change-log entry that
    /// touched it, its content named by the step that wrote it.
    static func whereTheyDiffer(
        _ source: WorkspaceTree, _ trees: [String: String], _ table: ClientState, _ server: TestServer
    ) async throws -> String {
        let expected = try PullTests.snapshot(source.root)
        var paths = Set<String>()
        for root in trees.values {
            let other = (try? PullTests.snapshot(root)) ?? [:]
            for (path, value) in expected where other[path] != value { paths.insert(path) }
            for (path, value) in other where expected[path] != value { paths.insert(path) }
        }
        var written: [String: String] = [:]
        for step in 0..<2000 {
            for text in [created(at: step), edited(at: step)] { written[TestBundle.sha256(text).hex] = text }
        }
        func text(_ root: String, _ path: String) -> String {
            guard let bytes = try? FileSystem.readAll(root + "/" + path) else { return "(absent)" }
            return String(decoding: bytes, as: UTF8.self).debugDescription
        }
        var log: [ChangeEntry] = []
        let api = DeltaAPI(baseURL: server.baseURL, token: nil)
        while true {
            let page = try await api.changes(
                WorkspaceReference(name: "ws", path: source.root), since: log.last?.sequence ?? 0)
            log += page.changes
            if !page.hasMore { break }
        }
        let rows = try table.files()
        var lines: [String] = []
        for path in paths.sorted() {
            lines.append("\(path): source \(text(source.root, path))")
            for (name, root) in trees.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(name): \(text(root, path))")
            }
            if let row = rows[path] {
                lines.append(
                    "  watcher's table: \(written[row.sha256]?.debugDescription ?? row.sha256) size \(row.size) mtime \(row.mtimeNanoseconds) ctime \(row.ctimeNanoseconds) inode \(row.inode)"
                )
            } else {
                lines.append("  watcher's table: (none)")
            }
            if let file = StatFingerprint(lstatAt: source.root + "/" + path) {
                lines.append(
                    "  source stat: size \(file.size) mtime \(file.mtimeNanoseconds) ctime \(file.ctimeNanoseconds) inode \(file.inode)"
                )
            }
            for entry in log {
                for operation in entry.operations where operation.path == path || operation.sourcePath == path {
                    let content = operation.contentHash.map { written[$0.hex]?.debugDescription ?? $0.hex } ?? "-"
                    lines.append(
                        "  log \(entry.sequence) (\(entry.bundleID)): \(operation.operation) \(operation.path) from \(operation.sourcePath ?? "-") \(content)"
                    )
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func startMirror(_ mirror: String, _ server: TestServer) throws -> ChildProcess {
        try FileSystem.createDirectory(mirror)
        return try ChildProcess(
            executable: ServerProcess.binary,
            arguments: ["pull", mirror, "--server", server.baseURL, "--workspace", "ws", "--follow"],
            standardOutput: .null, standardError: .null)
    }
}
