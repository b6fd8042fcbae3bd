import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaClient

@Suite struct ClientStateTests {
    /// `watch`, `push` and `status` can open a new state directory at the same moment; each
    /// migration must see the others' result instead of creating the tables twice.
    @Test func concurrentOpenersOfANewStateAllSucceed() async throws {
        try await withTemporaryDirectory("state") { directory in
            let path = directory.sub("state")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask { _ = try ClientState(directory: path) }
                }
                try await group.waitForAll()
            }
            let state = try ClientState(directory: path)
            #expect(try state.ackedSequence == 0)
            #expect(try String(contentsOfFile: path + "/.gitignore", encoding: .utf8) == "*\n")
        }
    }

    /// The file table is written through SQLite's own bind calls: every field comes back as it
    /// went in, an upsert replaces the row, and non-ASCII and awkward paths keep their bytes.
    @Test func fileRowsRoundTripAndUpsertsReplace() async throws {
        try await withTemporaryDirectory("rows") { directory in
            let state = try ClientState(directory: directory.sub("state"))
            let paths = ["a.txt", "caf\u{E9}/na\u{EF}ve.swift", "emoji/\u{1F600}.md", "quote\"d 'and' spaced", "x"]
            let rows = paths.enumerated().map { index, path in
                TrackedFile(
                    path: path, size: Int64(index) * 1_000_000_007, mtimeNanoseconds: -2 + Int64(index),
                    ctimeNanoseconds: Int64.max - Int64(index), inode: UInt64.max - UInt64(index),
                    mode: index % 2 == 0 ? 0o644 : 0o755, sha256: String(repeating: "\(index)", count: 64))
            }
            try state.refresh(rows)
            #expect(try state.files() == Dictionary(uniqueKeysWithValues: rows.map { ($0.path, $0) }))
            var changed = rows[1]
            changed.size = 7
            changed.sha256 = String(repeating: "f", count: 64)
            try state.refresh([changed])
            let files = try state.files()
            #expect(files.count == rows.count)
            #expect(files[changed.path] == changed)
        }
    }

    @Test func outboxEntriesAreAcknowledgedAndOldOnesPruned() async throws {
        try await withTemporaryDirectory("outbox") { directory in
            let state = try ClientState(directory: directory.sub("state"))
            for index in 0..<5 {
                let file = "b\(index).tar.gz"
                try FileSystem.writeAtomically(state.outboxPath(file), [1, 2, 3])
                try state.enqueue(bundleID: "b\(index)", file: file, size: 3, operations: 1, upserts: [], deletes: [])
            }
            for (index, entry) in try state.pending().enumerated() {
                try state.acknowledge(entry, sequence: Int64(index + 1), keep: 2)
            }
            #expect(try state.pending().isEmpty)
            #expect(try state.ackedSequence == 5)
            #expect(try state.retained().map(\.ackedSequence) == [4, 5])
            #expect(!FileSystem.exists(state.outboxPath("b0.tar.gz")))
            #expect(FileSystem.exists(state.outboxPath("b4.tar.gz")))
        }
    }
}
