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
