@testable import DeltaCore
@testable import DeltaServer
import Testing

/// The file changes of a plan come out in byte order, whatever order the operations came in
/// (the materialiser and the file table's inserts walk them in that order), each path once.
@Suite struct ApplyPlannerOrderTests {
    static func created(_ path: String) -> ValidatedOperation {
        let digest = ContentDigest(
            sha1: String(repeating: "1", count: 40), sha256: String(repeating: "2", count: 64), size: 1)
        return ValidatedOperation(
            operation: BundleOperation(operation: .created, path: path),
            content: SpooledContent(path: "/unused", anonymous: nil, bytes: nil, digest: digest, tarMode: 0o644))
    }

    static func deleted(_ path: String) -> ValidatedOperation {
        ValidatedOperation(operation: BundleOperation(operation: .deleted, path: path), content: nil)
    }

    static let current = FileTableSnapshot(files: [
        PathKey("old.txt"): FileRecord(
            path: "old.txt", sha256: String(repeating: "3", count: 64), sha1: String(repeating: "4", count: 40),
            size: 1, mode: 0o644)
    ])

    @Test func changesComeOutInByteOrderWhateverTheOperationsOrder() throws {
        // "B" (0x42) sorts before "a" (0x61) by bytes; "é" (0xC3 …) after "z".
        let paths = ["z.txt", "a/b.txt", "B.txt", "é.txt", "a.txt", "a/a.txt"]
        let expected = ["B.txt", "a.txt", "a/a.txt", "a/b.txt", "old.txt", "z.txt", "é.txt"]
        for operations in [
            paths.map(Self.created) + [Self.deleted("old.txt")],
            paths.sorted { PathKey($0) < PathKey($1) }.map(Self.created) + [Self.deleted("old.txt")],
            [Self.deleted("old.txt")] + paths.reversed().map(Self.created),
        ] {
            let plan = try ApplyPlanner.plan(operations, snapshot: Self.current)
            #expect(plan.fileChanges.map(\.path) == expected)
            #expect(plan.fileChanges.first { $0.path == "old.txt" } == .delete(path: "old.txt"))
        }
    }

    @Test func aPathWrittenTwiceIsOneChangeWithItsLastState() throws {
        let operations = [Self.created("b.txt"), Self.created("a.txt"), Self.deleted("b.txt"), Self.created("c.txt")]
        let plan = try ApplyPlanner.plan(operations, snapshot: FileTableSnapshot())
        #expect(plan.fileChanges.map(\.path) == ["a.txt", "b.txt", "c.txt"])
        #expect(plan.fileChanges[1] == .delete(path: "b.txt"))
    }
}
