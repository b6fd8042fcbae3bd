@testable import DeltaClient
import DeltaCore
import DeltaTestSupport
import Foundation
import Synchronization
import Testing

@Suite struct ChangeDetectorTests {
    func scan(_ tree: WorkspaceTree) throws -> [ScannedFile] {
        try TreeScanner(root: tree.root, ignore: IgnoreRules(root: tree.root)).scan().files
    }

    func states(_ tree: WorkspaceTree) throws -> [String: TrackedFile] {
        let files = try scan(tree)
        let detected = ChangeDetector(root: tree.root).detect(scanned: files, base: [:])
        return Dictionary(uniqueKeysWithValues: detected.changes.compactMap { $0.state.map { ($0.path, $0) } })
    }

    /// A first push (nothing in the base) hands its changes over a run at a time, each as soon
    /// as its files are hashed: the first bundles upload while the rest are read. The runs
    /// together are what one detection finds; with anything in the base they are not used.
    @Test func aFirstDetectionHandsOverEachRunOnceItsFilesAreHashed() async throws {
        try await withTemporaryDirectory("streamed") { directory in
            let tree = try WorkspaceTree(root: directory.path)
            var sizes: [String: Int64] = [:]
            for index in 0..<30 {
                let path = "d\(index % 4)/f\(index).txt"
                try tree.write(path, String(repeating: "x", count: 100 + index * 37))
                sizes[path] = Int64(100 + index * 37)
            }
            func changes(base: [String: TrackedFile], streamed: Bool) throws -> (
                detection: LocalChanges.Detection, runs: [[String]], hashedAtEachRun: [Int64]
            ) {
                let hashed = Atomic<Int64>(0)
                var runs: [[String]] = []
                var hashedAtEachRun: [Int64] = []
                let local = LocalChanges(
                    root: tree.root, ignore: IgnoreRules(root: tree.root),
                    base: LocalChanges.BaseTree(all: { base }, below: { _ in [:] }), maxFileBytes: 1 << 20)
                let streaming = LocalChanges.Streaming(
                    runs: { sizes in stride(from: 0, to: sizes.count, by: 7).map { $0..<min($0 + 7, sizes.count) } },
                    deliver: { changes in
                        runs.append(changes.changes.map(\.operation.path))
                        hashedAtEachRun.append(hashed.load(ordering: .relaxed))
                    })
                let detection = try local.all(
                    onHashed: { hashed.add($0, ordering: .relaxed) }, streaming: streamed ? streaming : nil)
                return (detection, runs, hashedAtEachRun)
            }
            let whole = try changes(base: [:], streamed: false)
            let streamed = try changes(base: [:], streamed: true)
            #expect(whole.runs.isEmpty && !whole.detection.streamed)
            #expect(streamed.detection.streamed)
            // Five runs of 7, 7, 7, 7 and 2 files, in path order, together the whole detection.
            #expect(streamed.runs.map(\.count) == [7, 7, 7, 7, 2])
            let paths = whole.detection.changes.changes.map(\.operation.path)
            #expect(streamed.runs.flatMap { $0 } == paths)
            #expect(streamed.detection.changes.changes == whole.detection.changes.changes)
            // Each run was handed over before the next one was read.
            var through: Int64 = 0
            for (run, hashed) in zip(streamed.runs, streamed.hashedAtEachRun) {
                through += run.reduce(0) { $0 + sizes[$1, default: 0] }
                #expect(hashed == through)
            }
            // Files already in the base: moves and deletions need the whole comparison.
            var base = Dictionary(
                uniqueKeysWithValues: whole.detection.changes.changes.compactMap { $0.state }.map { ($0.path, $0) })
            base.removeValue(forKey: paths[0])
            let later = try changes(base: base, streamed: true)
            #expect(later.runs.isEmpty && !later.detection.streamed)
            #expect(later.detection.changes.changes.map(\.operation.path) == [paths[0]])
        }
    }

    @Test func unchangedFilesAreNeverReadAgain() async throws {
        try await withTemporaryDirectory("stat") { directory in
            let tree = try WorkspaceTree(root: directory.path)
            try tree.write("a", String(repeating: "a", count: 10_000))
            try tree.write("b", "b")
            let base = try states(tree)
            let hashed = Atomic<Int64>(0)
            let unchanged = ChangeDetector(root: tree.root).detect(scanned: try scan(tree), base: base) {
                hashed.add($0, ordering: .relaxed)
            }
            #expect(unchanged.changes.isEmpty)
            #expect(hashed.load(ordering: .relaxed) == 0)  // the stat fast path read nothing
            try tree.write("b", "B")
            let edited = ChangeDetector(root: tree.root).detect(scanned: try scan(tree), base: base) {
                hashed.add($0, ordering: .relaxed)
            }
            #expect(edited.changes.map(\.operation.path) == ["b"])
            #expect(hashed.load(ordering: .relaxed) == 1)  // only the changed file was read
        }
    }

    @Test func movesPairOneToOneAndSwapsStayUpdates() async throws {
        try await withTemporaryDirectory("moves") { directory in
            let tree = try WorkspaceTree(root: directory.path)
            try tree.write("x1", "same")
            try tree.write("x2", "same")
            try tree.write("p", "P")
            try tree.write("q", "Q")
            let base = try states(tree)
            try tree.move("x1", "y1")  // two files with equal content renamed: two moves, not one
            try tree.move("x2", "y2")
            try tree.move("p", "tmp")  // swap p and q
            try tree.move("q", "p")
            try tree.move("tmp", "q")
            let result = ChangeDetector(root: tree.root).detect(scanned: try scan(tree), base: base)
            let moves = result.changes.filter { $0.operation.operation == .moved }
            #expect(Set(moves.map { "\($0.operation.sourcePath ?? "")>\($0.operation.path)" }) == ["x1>y1", "x2>y2"])
            #expect(
                Set(result.changes.filter { $0.operation.operation == .updated }.map(\.operation.path)) == ["p", "q"])
            #expect(result.count(.created) == 0 && result.count(.deleted) == 0)
        }
    }
}

/// A file hashed once it had settled is not hashed again as it is bundled: its stat after the
/// copy must still be the one it was hashed with, and a file changed since is refused.
@Suite struct SettledFileTests {
    @Test func onlyFilesSettledBeforeHashingCarryTheirStatToTheBundle() async throws {
        try await withTemporaryDirectory("settled") { directory in
            let tree = try WorkspaceTree(root: directory.path)
            try tree.write("fresh.txt", "just saved")
            let scanned = try TreeScanner(root: tree.root, ignore: IgnoreRules(root: tree.root)).scan().files
            // Written a moment ago: inside the window, so the writer hashes it again.
            let recent = ChangeDetector(root: tree.root).detect(scanned: scanned, base: [:])
            #expect(recent.changes.map(\.settled) == [false])
            var detector = ChangeDetector(root: tree.root)
            detector.settledWindow = .zero
            let settled = detector.detect(scanned: scanned, base: [:])
            #expect(settled.changes.map(\.settled) == [true])

            let info = ServerInfo(version: "test", limits: BundleLimits())
            let planned = BundlePlanner(root: tree.root, info: info).plan(settled)
            let state = try #require(settled.changes.first?.state)
            #expect(planned.first?.entries.first?.hashedAs == state.fingerprint)
            #expect(BundlePlanner(root: tree.root, info: info).plan(recent).first?.entries.first?.hashedAs == nil)
        }
    }

    @Test func aFileChangedSinceItWasHashedIsRefusedWithOrWithoutItsStat() async throws {
        try await withTemporaryDirectory("changed") { directory in
            let tree = try WorkspaceTree(root: directory.path)
            let path = try tree.write("a.txt", "first content")
            let hashed = try RawFile.open(reading: path).fingerprint()
            func write(_ hash: ContentHash, hashedAs: StatFingerprint?) throws {
                let entry = BundleWriter.Entry(
                    operation: BundleOperation(operation: .created, path: "a.txt", contentHash: hash, sizeBytes: 13),
                    content: .file(path: path, size: 13), hashedAs: hashedAs)
                try BundleWriter(format: .tar).write(
                    to: directory.path + "/out.tar", bundleID: "b", workspacePath: nil, sequenceNumber: nil,
                    entries: [entry], sync: false)
            }
            // With its stat unchanged the file is trusted, not hashed: even a wrong hash passes
            // here (the server would refuse it), which shows the writer did not read it twice.
            try write(TestBundle.sha256("other content"), hashedAs: hashed)

            // Same size, new content, and its mtime put back as a copying tool might.
            let modified = try #require(FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
            try tree.write("a.txt", "SECOND conten")
            try FileManager.default.setAttributes(
                [.modificationDate: modified.addingTimeInterval(-3600)], ofItemAtPath: path)
            #expect(try RawFile.open(reading: path).fingerprint() != hashed)
            for hashedAs in [hashed, nil] {
                #expect {
                    try write(TestBundle.sha256("first content"), hashedAs: hashedAs)
                } throws: { error in
                    (error as? DeltaError)?.code == .changedWhileBundling
                }
            }
            try write(TestBundle.sha256("SECOND conten"), hashedAs: nil)
        }
    }
}
