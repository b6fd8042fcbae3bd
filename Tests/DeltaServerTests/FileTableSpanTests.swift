import DeltaCore
import DeltaTestSupport
import Foundation
import GRDB
import Testing

@testable import DeltaServer

/// The planner's snapshot of the file table is read in one scan of the span a bundle's targets
/// cover when that span holds few rows (`SQLiteStorage.spanned`), else one lookup per path. Both
/// must answer exactly what the query asks: each path's record, each directory's files below it,
/// whatever the table holds around them.
@Suite struct FileTableSpanTests {
    /// What `query` must find in `files`, computed from the list itself.
    static func expected(_ files: [FileRecord], _ query: FileTableQuery) -> FileTableSnapshot {
        var snapshot = FileTableSnapshot()
        for file in files where query.paths.contains(PathKey(file.path)) { snapshot.files[PathKey(file.path)] = file }
        for directory in query.directories {
            let prefix = Array((directory.string + "/").utf8)
            let below = files.map(\.path).filter { $0.utf8.starts(with: prefix) }
                .sorted { PathKey($0) < PathKey($1) }
            if !below.isEmpty { snapshot.below[directory] = below }
        }
        return snapshot
    }

    static func expectSame(
        _ found: FileTableSnapshot, _ wanted: FileTableSnapshot, _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(found.files == wanted.files, "\(label): records", sourceLocation: sourceLocation)
        #expect(found.below == wanted.below, "\(label): files below", sourceLocation: sourceLocation)
    }

    /// A query as the planner makes it for bundles creating, updating and deleting `targets`.
    static func query(creating targets: [String], deleting: [String] = []) -> FileTableQuery {
        var query = FileTableQuery()
        for path in targets + deleting {
            query.paths.insert(PathKey(path))
            for parent in PathRules.parents(of: path) { query.paths.insert(PathKey(parent)) }
        }
        for path in targets { query.directories.insert(PathKey(path)) }
        return query
    }

    @Test func eitherWayTheSnapshotIsWhatTheTableHolds() async throws {
        try await withTemporaryDirectory("file-span") { directory in
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            var generator = SplitMix64(seed: 20_261_204)
            // A tree with files at several depths, a file where a target's parent is ("b"), a
            // directory where a target is ("c/d"), and names around '/' and '0' in byte order.
            var paths: Set<String> = [
                "b", "c/d/x.txt", "c/d/y/z.txt", "c.txt", "c0", "c/d0", "é/ñ.txt", "e\u{301}/n.txt",
            ]
            for _ in 0..<400 {
                let depth = Int.random(in: 1...4, using: &generator)
                let components = (0..<depth).map { _ in
                    ["a", "b", "c", "d", "e", "a0"].randomElement(using: &generator)!
                }
                paths.insert(components.joined(separator: "/") + "/f\(Int.random(in: 0..<50, using: &generator)).txt")
            }
            // No path may be both a file and a directory.
            let files = paths.sorted().filter { path in
                !paths.contains { $0.utf8.starts(with: (path + "/").utf8) }
            }.map {
                FileTableKeyTests.file(
                    $0, sha256: String(repeating: "a", count: 64), sha1: String(repeating: "b", count: 40))
            }
            _ = try await storage.commit(FileTableKeyTests.commit("ws", 1, files)) {}
            _ = try await storage.commit(FileTableKeyTests.commit("other", 1, files.prefix(50).map { $0 })) {}

            var spans = 0
            var fallbacks = 0
            for round in 0..<300 {
                // Targets near one another (a bundle's, in path order), sometimes far apart.
                let sorted = files.map(\.path)
                let start = Int.random(in: 0..<sorted.count, using: &generator)
                let count = Int.random(in: 1...12, using: &generator)
                var targets = Array(sorted[start..<min(sorted.count, start + count)])
                if round % 5 == 0 { targets.append(sorted[Int.random(in: 0..<sorted.count, using: &generator)]) }
                if round % 7 == 0 { targets.append("new/\(round)/file.txt") }
                if round % 11 == 0 { targets.append("c/d") }
                let deleting = round % 3 == 0 ? [sorted[Int.random(in: 0..<sorted.count, using: &generator)]] : []
                let query = Self.query(creating: targets, deleting: deleting)
                let wanted = Self.expected(files, query)
                let (spanned, each) = try await storage.pool.read { db in
                    let table = SQLiteFileTable(db: db, workspace: "ws")
                    return (try SQLiteStorage.spanned(table, query), try SQLiteStorage.pathByPath(table, query))
                }
                Self.expectSame(each, wanted, "round \(round), path by path")
                if let spanned {
                    spans += 1
                    Self.expectSame(spanned, wanted, "round \(round), one scan")
                } else {
                    fallbacks += 1
                }
                let context = try await storage.uploadContext(workspace: "ws", bundleID: "none", files: query)
                Self.expectSame(context.files, wanted, "round \(round), upload context")
            }
            // Both ways were taken.
            #expect(spans > 100)
            #expect(fallbacks > 10)
        }
    }

    @Test func aBundleOnlyDeletingIsLookedUpPathByPath() async throws {
        try await withTemporaryDirectory("file-span-delete") { directory in
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            let query = Self.query(creating: [], deleting: ["a/b.txt"])
            let spanned = try await storage.pool.read { db in
                try SQLiteStorage.spanned(SQLiteFileTable(db: db, workspace: "ws"), query)
            }
            #expect(spanned == nil)
        }
    }
}
