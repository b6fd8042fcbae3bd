import DeltaCore
import DeltaTestSupport
import Foundation
import GRDB
import Testing

@testable import DeltaServer

/// The file table's hash indexes hold a 64-bit key of each digest (`SQLiteStorage.hashKey`),
/// not the digest: lookups must still find exactly the files holding a hash, tell apart hashes
/// that share a key, and a database written before the keys must come through its migration
/// with every row and every lookup intact.
@Suite struct FileTableKeyTests {
    static func file(_ path: String, sha256: String, sha1: String, size: Int64 = 1) -> FileRecord {
        FileRecord(path: path, sha256: sha256, sha1: sha1, size: size, mode: 0o644)
    }

    static func commit(_ workspace: String, _ sequence: Int64, _ files: [FileRecord]) -> BundleCommit {
        BundleCommit(
            workspace: workspace, workspacePath: nil, collectionName: workspace, sequence: sequence,
            change: ChangeRecord(
                sequence: sequence, bundleID: "\(workspace)-\(sequence)",
                bundleSHA256: String(repeating: "cd", count: 32),
                bundleSize: 1, appliedAt: Timestamp.now(), counts: OperationCounts(created: files.count),
                operations: files.map {
                    ChangeOperation(
                        operation: .created, path: $0.path, sourcePath: nil,
                        contentHash: ContentHash(algorithm: .sha256, hex: $0.sha256), sizeBytes: $0.size, mode: 0o644)
                }, processingTimeMs: 1),
            fileChanges: files.map { .upsert($0) })
    }

    /// One holder per hash asked for, as the planner asks.
    static func holders(_ storage: SQLiteStorage, _ workspace: String, _ hashes: [ContentHash]) async throws
        -> [ContentHash: String]
    {
        let context = try await storage.uploadContext(
            workspace: workspace, bundleID: "none", files: FileTableQuery(hashes: Set(hashes)))
        return context.files.holders.mapValues(\.path)
    }

    @Test func theKeyIsTheDigestsFirstSixtyFourBits() {
        #expect(SQLiteStorage.hashKey("0000000000000001" + String(repeating: "f", count: 48)) == 1)
        #expect(SQLiteStorage.hashKey(String(repeating: "f", count: 64)) == -1)
        #expect(SQLiteStorage.hashKey("8000000000000000" + String(repeating: "0", count: 24)) == Int64.min)
        #expect(SQLiteStorage.hashKey("0123456789ABCDEF") == SQLiteStorage.hashKey("0123456789abcdef"))
        #expect(SQLiteStorage.hashKey("0123456789abcdef00") == 0x0123_4567_89ab_cdef)
        #expect(SQLiteStorage.hashKey("") == 0)
    }

    /// The keys are stored: the workspace's part of them must never change between versions.
    @Test func theWorkspacesPartOfTheKeyIsStable() {
        let digest = String(repeating: "0", count: 64)
        #expect(SQLiteStorage.workspaceSalt("") == 0xf52a_15e9_a9b5_e89b)
        #expect(SQLiteStorage.hashKey(digest, workspace: "") == Int64(bitPattern: 0xf52a_15e9_a9b5_e89b))
        #expect(SQLiteStorage.workspaceSalt("project-0123456789abcdef") == 0x66e3_7434_6c50_f3e2)
        // The same content in two workspaces has two keys; in one workspace, one.
        let one = SQLiteStorage.hashKey(String(repeating: "ab", count: 32), workspace: "one")
        #expect(one == SQLiteStorage.hashKey(String(repeating: "ab", count: 32), workspace: "one"))
        #expect(one != SQLiteStorage.hashKey(String(repeating: "ab", count: 32), workspace: "two"))
        // The digest's part is `hashKey(_:)`, mixed in by XOR.
        #expect(
            SQLiteStorage.hashKey("0000000000000001" + String(repeating: "f", count: 48), workspace: "")
                == Int64(bitPattern: 0xf52a_15e9_a9b5_e89b ^ 1))
    }

    @Test func hashesThatShareAKeyAreToldApart() async throws {
        try await withTemporaryDirectory("hash-keys") { directory in
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            let prefix256 = String(repeating: "a", count: 16)
            let prefix1 = String(repeating: "b", count: 16)
            let one = Self.file(
                "one.txt", sha256: prefix256 + String(repeating: "1", count: 48),
                sha1: prefix1 + String(repeating: "1", count: 24))
            let two = Self.file(
                "two.txt", sha256: prefix256 + String(repeating: "2", count: 48),
                sha1: prefix1 + String(repeating: "2", count: 24))
            // The same content in another workspace is not this workspace's.
            let elsewhere = Self.file(
                "three.txt", sha256: prefix256 + String(repeating: "3", count: 48),
                sha1: prefix1 + String(repeating: "3", count: 24))
            _ = try await storage.commit(Self.commit("ws", 1, [one, two])) {}
            // And the same content as `one` there, under another name.
            let copy = Self.file("copy-of-one.txt", sha256: one.sha256, sha1: one.sha1)
            _ = try await storage.commit(Self.commit("other", 1, [elsewhere, copy])) {}
            let inOther = try await Self.holders(
                storage, "other",
                [ContentHash(algorithm: .sha256, hex: one.sha256), ContentHash(algorithm: .sha1, hex: one.sha1)])
            #expect(inOther.values.sorted() == ["copy-of-one.txt", "copy-of-one.txt"])

            let hashes = [one, two, elsewhere].flatMap {
                [ContentHash(algorithm: .sha256, hex: $0.sha256), ContentHash(algorithm: .sha1, hex: $0.sha1)]
            }
            let found = try await Self.holders(storage, "ws", hashes)
            #expect(found[ContentHash(algorithm: .sha256, hex: one.sha256)] == "one.txt")
            #expect(found[ContentHash(algorithm: .sha1, hex: one.sha1)] == "one.txt")
            #expect(found[ContentHash(algorithm: .sha256, hex: two.sha256)] == "two.txt")
            #expect(found[ContentHash(algorithm: .sha1, hex: two.sha1)] == "two.txt")
            #expect(found.count == 4)

            let wanted = [one.sha256, two.sha256, elsewhere.sha256, prefix256 + String(repeating: "4", count: 48)]
            #expect(try await storage.heldContents(workspace: "ws", among: wanted) == [one.sha256, two.sha256])
            #expect(try await storage.heldContents(workspace: "other", among: wanted) == [one.sha256, elsewhere.sha256])
            // A hash that shares its key with held ones, asked alone, is not held.
            #expect(try await storage.heldContents(workspace: "ws", among: [wanted[3]]).isEmpty)

            // A file whose content changes is found by its new hash only.
            let edited = Self.file(
                "one.txt", sha256: String(repeating: "c", count: 64), sha1: String(repeating: "d", count: 40))
            _ = try await storage.commit(Self.commit("ws", 2, [edited])) {}
            let after = try await Self.holders(
                storage, "ws",
                [
                    ContentHash(algorithm: .sha256, hex: one.sha256), ContentHash(algorithm: .sha1, hex: one.sha1),
                    ContentHash(algorithm: .sha256, hex: edited.sha256),
                    ContentHash(algorithm: .sha1, hex: edited.sha1),
                ])
            #expect(
                after == [
                    ContentHash(algorithm: .sha256, hex: edited.sha256): "one.txt",
                    ContentHash(algorithm: .sha1, hex: edited.sha1): "one.txt",
                ])
        }
    }

    /// Many files, more than one slice of `heldContents`' bound parameters.
    @Test func heldContentsAnswersForLongLists() async throws {
        try await withTemporaryDirectory("hash-keys-many") { directory in
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            let files = (0..<1_500).map { index in
                Self.file(
                    String(format: "f%05d", index), sha256: String(format: "%064x", index * 7 + 1),
                    sha1: String(format: "%040x", index * 7 + 1))
            }
            _ = try await storage.commit(Self.commit("ws", 1, files)) {}
            let absent = (0..<500).map { String(format: "%064x", $0 * 7 + 2) }
            let held = try await storage.heldContents(workspace: "ws", among: absent + files.map(\.sha256))
            #expect(held == Set(files.map(\.sha256)))
        }
    }

    /// A database written by a server from before the keys: the rows keep every value and the
    /// path order, the old indexes are gone, and hash lookups answer from the new ones.
    @Test func aDatabaseFromBeforeTheKeysIsMigrated() async throws {
        try await withTemporaryDirectory("hash-keys-migration") { directory in
            let path = directory.sub("deltasync.sqlite")
            // Row n: digests of repeated digits 2n-1 and 2n, size 10n.
            func row(_ workspace: String, _ path: String, _ n: Int) -> (workspace: String, file: FileRecord) {
                (
                    workspace,
                    Self.file(
                        path, sha256: String(repeating: String(2 * n - 1), count: 64),
                        sha1: String(repeating: String(2 * n), count: 40), size: Int64(10 * n))
                )
            }
            let rows = [row("ws", "src/b.c", 1), row("ws", "a.txt", 2), row("ws", "é/x", 3), row("other", "a.txt", 4)]
            do {
                let queue = try DatabaseQueue(path: path)
                try SQLiteStorage.migrator.migrate(queue, upTo: "v4-graph")
                try await queue.write { db in
                    for (workspace, file) in rows {
                        try db.execute(
                            sql: """
                                INSERT INTO file (workspace, path, sha256, sha1, size, mode, sequence)
                                VALUES (?, ?, ?, ?, ?, ?, 1)
                                """,
                            arguments: [workspace, file.path, file.sha256, file.sha1, file.size, Int64(file.mode)])
                    }
                }
            }

            let storage = try SQLiteStorage(path: path)
            let listed = try await storage.files(workspace: "ws").files
            #expect(listed.map(\.path) == ["a.txt", "src/b.c", "é/x"])
            for (workspace, file) in rows {
                let stored = try await storage.files(workspace: workspace, paths: [file.path])[PathKey(file.path)]
                #expect(stored?.sha256 == file.sha256)
                #expect(stored?.sha1 == file.sha1)
                #expect(stored?.size == file.size)
                #expect(stored?.mode == file.mode)
            }
            let indexes = try await storage.pool.read { db in
                try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'file'")
            }
            #expect(Set(indexes) == ["file_by_path", "file_by_sha256_key", "file_by_sha1_key"])
            let keys = try storage.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT workspace, sha256, sha1, sha256_key, sha1_key FROM file")
            }
            for row in keys {
                #expect(row["sha256_key"] as Int64 == SQLiteStorage.hashKey(row["sha256"], workspace: row["workspace"]))
                #expect(row["sha1_key"] as Int64 == SQLiteStorage.hashKey(row["sha1"], workspace: row["workspace"]))
            }
            // The hash indexes hold the key alone (and the rowid), not the workspace's name.
            for index in ["file_by_sha256_key", "file_by_sha1_key"] {
                let columns = try await storage.pool.read { db in
                    try String.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?)", arguments: [index])
                }
                #expect(columns == [index == "file_by_sha1_key" ? "sha1_key" : "sha256_key"])
            }

            let b = rows[0].file
            let found = try await Self.holders(
                storage, "ws",
                [ContentHash(algorithm: .sha1, hex: b.sha1), ContentHash(algorithm: .sha256, hex: rows[3].file.sha256)])
            #expect(found == [ContentHash(algorithm: .sha1, hex: b.sha1): "src/b.c"])
            #expect(
                try await storage.heldContents(workspace: "other", among: rows.map(\.file.sha256)) == [
                    rows[3].file.sha256
                ])

            // And the table takes new rows and edits after the migration.
            // (The old rows were written without a workspace row: this is its first bundle.)
            let outcome = try await storage.commit(
                Self.commit("ws", 1, [Self.file("a.txt", sha256: String(repeating: "9", count: 64), sha1: b.sha1)])
            ) {}
            guard case .committed = outcome else {
                Issue.record("expected a commit, got \(outcome)")
                return
            }
            #expect(
                try await storage.files(workspace: "ws").files.map(\.sha256).first == String(repeating: "9", count: 64))
            #expect(try await storage.fileCount(workspace: "ws") == 3)
        }
    }
}
