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
    /// A small deterministic generator (SplitMix64), so a seed replays the same operations.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// One random operation on the tree: create, edit, chmod, delete, rename a file, rename or
    /// delete a directory.
    static func mutate(_ tree: WorkspaceTree, _ random: inout Seeded, step: Int) throws {
        let directories = ["a", "a/b", "c", "d/e/f"]
        let files = (try? WorkspaceTree.snapshot(tree.root, excluding: [".deltasync"]).keys.sorted()) ?? []
        let pick = Int.random(in: 0..<100, using: &random)
        switch pick {
        case 0..<35 where files.count < 60, 0..<10:
            let directory = directories.randomElement(using: &random) ?? "a"
            let mode: mode_t = Bool.random(using: &random) && pick % 3 == 0 ? 0o755 : 0o644
            try tree.write("\(directory)/f\(step).txt", "step \(step)\n", mode: mode)
        case 0..<60:
            guard let file = files.randomElement(using: &random) else { return }
            try tree.write(file, "edited at \(step)\n")
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
            var info = stat()
            guard lstat(tree.root + "/" + directory, &info) == 0 else { return }
            rename(tree.root + "/" + directory, tree.root + "/renamed\(step)")
        default:
            let directory = ["c", "renamed"].randomElement(using: &random) ?? "c"
            tree.remove(directory)
        }
    }

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
                    var random = Seeded(state: seed)
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
                    let expected = try PullTests.snapshot(source.root)
                    #expect(try await PullTests.converged(source, mirrorA), "seed \(seed): mirror A differs")
                    #expect(try await PullTests.converged(source, mirrorB), "seed \(seed): mirror B differs")
                    let mirrored = try PullTests.snapshot(mirrorB)
                    #expect(
                        expected == mirrored,
                        "seed \(seed): only in source \(expected.filter { mirrored[$0.key] != $0.value }.keys.sorted()), only in mirror \(mirrored.filter { expected[$0.key] != $0.value }.keys.sorted())"
                    )
                    kill(mirrorProcess.processIdentifier, SIGKILL)
                    mirrorProcess.waitUntilExit()
                    #expect(killed == 20)
                }
                following.cancel()
                _ = try? await following.value
            }
        }
    }

    static func startMirror(_ mirror: String, _ server: TestServer) throws -> ChildProcess {
        try FileSystem.createDirectory(mirror)
        return try ChildProcess(
            executable: ServerProcess.binary,
            arguments: ["pull", mirror, "--server", server.baseURL, "--workspace", "ws", "--follow"],
            standardOutput: .null, standardError: .null)
    }
}
