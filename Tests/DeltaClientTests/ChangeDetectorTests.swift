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
