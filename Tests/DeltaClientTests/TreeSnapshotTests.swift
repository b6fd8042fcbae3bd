@testable import DeltaClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// The no-change push answered from a `TreeSnapshot` (one stat per file and directory, no
/// directory read): it must never hide a change a full scan would find.
@Suite struct TreeSnapshotTests {
    /// Every kind of change, made after a snapshot was saved and trusted once.
    enum Change: String, CaseIterable, Sendable {
        case appendToFile, sameSizeRewrite, atomicSaveDeep, createInRoot, createInExistingDirectory
        case createInNewDirectory, deleteFile, renameInDirectory, makeExecutable, replaceBySymlink
        case removeDirectory, newGitignoreIgnoresAFile, selfIgnoredGitignoreEdited, infoExcludeIgnoresAFile
        case deltasyncignoreReincludes
    }

    @discardableResult
    static func push(_ tree: WorkspaceTree, _ server: TestServer) async throws -> PushReport {
        var configuration = PushTest.configuration(tree, server)
        // The tree was just written: without this, every entry is too recent to be trusted.
        configuration.racyWindow = .zero
        return try await PushSession(configuration: configuration, logger: PushTest.logger).run()
    }

    /// Appends to a file in place (same inode), as an editor that does not rename does.
    static func appendInPlace(_ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    static func writeTree(_ tree: WorkspaceTree) throws {
        try tree.write("a.txt", "alpha\n")
        try tree.write("src/main.swift", "print(1)\n")
        try tree.write("src/lib/deep/util.swift", "let x = 1\n")
        try tree.write("docs/guide.md", "# guide\n")
        try tree.write("docs/old/notes.md", "notes\n")
        try tree.write(".gitignore", "*.log\n.gitignore\n")
        try tree.write("debug.log", "ignored until the .gitignore changes\n")
        try tree.write("node_modules/pkg/index.js", "ignored by default\n")
        try tree.write(".deltasyncignore", "")
        try FileSystem.createDirectory(tree.root + "/.git/info")
        guard symlink("a.txt", tree.root + "/link") == 0 else { throw DeltaError.posix("symlink", "link") }
    }

    @Test(arguments: Change.allCases)
    func everyChangeAfterASnapshotIsFound(_ change: Change) async throws {
        try await withTemporaryDirectory("snapshot-\(change.rawValue)") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeTree(tree)
                let first = try await Self.push(tree, server)
                #expect(!first.unchangedSinceSnapshot && first.created == 6)
                let idle = try await Self.push(tree, server)
                #expect(idle.unchangedSinceSnapshot, "the second push is answered from the snapshot")
                #expect(idle.filesScanned == 6 && idle.bundles == 0 && idle.filesHashed == 0)
                #expect(idle.skipped.map(\.path) == ["link"], "what the full scan skipped is still reported")

                var ignoring: Set<String> = ["debug.log", "node_modules/pkg/index.js", ".gitignore"]
                switch change {
                case .appendToFile:
                    try Self.appendInPlace(tree.root + "/src/main.swift", "print(2)\n")
                case .sameSizeRewrite:
                    try tree.write("a.txt", "ALPHA\n")
                case .atomicSaveDeep:
                    try tree.write("src/lib/deep/util.swift.tmp", "let x = 2\n")
                    try tree.move("src/lib/deep/util.swift.tmp", "src/lib/deep/util.swift")
                case .createInRoot:
                    try tree.write("b.txt", "new\n")
                case .createInExistingDirectory:
                    try tree.write("src/lib/new.swift", "new\n")
                case .createInNewDirectory:
                    try tree.write("docs/old/newer/file.md", "new\n")
                case .deleteFile:
                    tree.remove("docs/old/notes.md")
                case .renameInDirectory:
                    try tree.move("docs/guide.md", "docs/manual.md")
                case .makeExecutable:
                    chmod(tree.root + "/src/main.swift", 0o755)
                case .replaceBySymlink:
                    tree.remove("docs/guide.md")
                    symlink("../a.txt", tree.root + "/docs/guide.md")
                case .removeDirectory:
                    tree.remove("src/lib")
                case .newGitignoreIgnoresAFile:
                    try tree.write("docs/.gitignore", "guide.md\n")
                    ignoring.formUnion(["docs/guide.md", "docs/.gitignore"])  // the root's `.gitignore` ignores both
                case .selfIgnoredGitignoreEdited:
                    // Ignored itself, so only the rule file's own stat says it changed.
                    try Self.appendInPlace(tree.root + "/.gitignore", "!debug.log\n")
                    ignoring.remove("debug.log")
                case .infoExcludeIgnoresAFile:
                    try tree.write(".git/info/exclude", "a.txt\n")
                    ignoring.insert("a.txt")
                case .deltasyncignoreReincludes:
                    try Self.appendInPlace(tree.root + "/.deltasyncignore", "!node_modules/\n")
                    ignoring.remove("node_modules/pkg/index.js")
                }
                let after = try await Self.push(tree, server)
                #expect(!after.unchangedSinceSnapshot)
                #expect(after.created + after.updated + after.deleted + after.moved > 0, "\(change) was found")
                // Only edits in place are read alone; anything a directory or rule file shows is scanned.
                let inPlace: Set<Change> = [.appendToFile, .sameSizeRewrite, .makeExecutable]
                #expect(after.changedSinceSnapshot == inPlace.contains(change))
                try PushTest.expectInSync(tree, server, ignoring: ignoring)
                // And the next push trusts the new snapshot again.
                let settled = try await Self.push(tree, server)
                #expect(settled.unchangedSinceSnapshot && settled.bundles == 0)
            }
        }
    }

    @Test func manyFilesEditedInPlaceAreScannedWhole() async throws {
        try await withTemporaryDirectory("snapshot-many") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                let count = TreeSnapshot.maxChangedFiles + 1
                for index in 0..<count { try tree.write("d\(index % 8)/f\(index).txt", "\(index)\n") }
                try await Self.push(tree, server)
                #expect(try await Self.push(tree, server).unchangedSinceSnapshot)
                for index in 0..<count { try Self.appendInPlace(tree.root + "/d\(index % 8)/f\(index).txt", "more\n") }
                let after = try await Self.push(tree, server)
                #expect(!after.changedSinceSnapshot && after.updated == count)
                try PushTest.expectInSync(tree, server)
                #expect(try await Self.push(tree, server).unchangedSinceSnapshot)
            }
        }
    }

    @Test func aChangedFileTableIsNotAnsweredFromAnOldSnapshot() async throws {
        try await withTemporaryDirectory("snapshot-table") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeTree(tree)
                try await Self.push(tree, server)
                #expect(try await Self.push(tree, server).unchangedSinceSnapshot)
                // Another session (a watch, a pull) changed the file table since: the tree on disk is
                // the same, but what the table says the server has is not.
                let state = try ClientState(directory: tree.root + "/.deltasync")
                try state.forget(["a.txt"])
                let after = try await Self.push(tree, server)
                #expect(!after.unchangedSinceSnapshot && after.created == 1)
                try PushTest.expectInSync(
                    tree, server, ignoring: ["debug.log", "node_modules/pkg/index.js", ".gitignore"])
            }
        }
    }

    @Test func aDamagedSnapshotIsNotTrustedAndIsReplaced() async throws {
        try await withTemporaryDirectory("snapshot-damaged") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeTree(tree)
                try await Self.push(tree, server)
                let path = tree.root + "/.deltasync/" + TreeSnapshot.fileName
                var bytes = try FileSystem.readAll(path)
                bytes[bytes.count / 2] ^= 0x01
                try FileSystem.writeAtomically(path, bytes)
                let damaged = try await Self.push(tree, server)
                #expect(!damaged.unchangedSinceSnapshot && damaged.bundles == 0)
                #expect(try FileSystem.readAll(path) != bytes, "a good snapshot replaced the damaged one")
                #expect(try await Self.push(tree, server).unchangedSinceSnapshot)
            }
        }
    }

    /// A no-change push commits nothing to the state database (a commit costs the write-ahead
    /// log's syncs, tens of milliseconds while the disk is busy), yet `status` still tells when
    /// it ran.
    @Test func aNoChangePushWritesNothingToTheStateDatabaseButRecordsWhenItRan() async throws {
        try await withTemporaryDirectory("snapshot-no-write") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeTree(tree)
                try await Self.push(tree, server)
                #expect(try await Self.push(tree, server).unchangedSinceSnapshot)
                let stateDirectory = tree.root + "/.deltasync"
                /// The stat of the database and its log, or nil where a file is missing.
                func databaseFiles() -> [StatFingerprint?] {
                    ["/state.sqlite", "/state.sqlite-wal"].map {
                        try? RawFile.open(reading: stateDirectory + $0).fingerprint()
                    }
                }
                let lastPushFile = stateDirectory + "/" + ClientState.lastPushFileName
                unlink(lastPushFile)
                // An older client's time in the record: writing this push's time there would be a
                // change even within the same second.
                let record = try ClientState(directory: stateDirectory).updateSyncState {
                    $0.lastPushAt = "2001-01-01T00:00:00Z"
                }
                let before = databaseFiles()
                #expect(before[0] != nil)

                let idle = try await Self.push(tree, server)
                #expect(idle.unchangedSinceSnapshot && idle.bundles == 0)
                #expect(databaseFiles() == before, "the no-change push wrote to the state database")
                #expect(try ClientState(directory: stateDirectory).syncState() == record)
                let recorded = String(decoding: try FileSystem.readAll(lastPushFile), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(ISO8601DateFormatter().date(from: recorded) != nil, "the push's time is recorded: \(recorded)")
                let status = try await ClientStatus.read(
                    root: tree.root, stateDirectory: stateDirectory, serverURL: server.baseURL, workspaceName: "ws",
                    token: nil)
                #expect(status.lastPushAt == recorded)
            }
        }
    }

    @Test func aScanWithADirectoryChangedJustBeforeItOrARacyFileWithoutADigestIsNotKept() {
        let walkStarted: Int64 = 1_800_000_000 * 1_000_000_000
        func scan(fileChangedAt: Int64, directoryChangedAt: Int64, files: Int = 1) -> ScanResult {
            var result = ScanResult(
                files: (0..<files).map { index in
                    ScannedFile(
                        path: "f\(index).txt", size: 1, mtimeNanoseconds: fileChangedAt - 5_000_000_000,
                        ctimeNanoseconds: fileChangedAt, inode: UInt64(10 + index), mode: 0o644)
                })
            result.directories = [
                ScannedDirectory(
                    path: "",
                    fingerprint: StatFingerprint(
                        size: 4096, mtimeNanoseconds: directoryChangedAt, ctimeNanoseconds: directoryChangedAt,
                        inode: 2, mode: UInt32(S_IFDIR) | 0o755),
                    ruleFiles: [])
            ]
            return result
        }
        let context = TreeSnapshot.Context(
            root: "/w", stateDirectoryName: ".deltasync", usesDefaultExcludes: true, maxFileBytes: 1 << 20)
        func snapshot(_ scan: ScanResult, skipped: [SkippedPath] = [], digest: (String) -> String? = { _ in nil })
            -> TreeSnapshot?
        {
            TreeSnapshot(
                scan: scan, detectionSkipped: skipped, context: context, walkStarted: walkStarted, digest: digest)
        }
        let old = walkStarted - 3_000_000_000
        let recent = walkStarted - 1_000_000_000
        let later = walkStarted + 1_000_000
        let sha = String(repeating: "a", count: 64)
        #expect(snapshot(scan(fileChangedAt: old, directoryChangedAt: old)) != nil)
        // A directory within the two seconds before the walk, or after its start: not kept.
        for directory in [recent, later] {
            #expect(snapshot(scan(fileChangedAt: old, directoryChangedAt: directory), digest: { _ in sha }) == nil)
        }
        // A racy file: kept only with its digest, and only a few of them.
        for file in [recent, later] {
            #expect(snapshot(scan(fileChangedAt: file, directoryChangedAt: old)) == nil)
            #expect(snapshot(scan(fileChangedAt: file, directoryChangedAt: old), digest: { _ in sha }) != nil)
        }
        let many = scan(fileChangedAt: recent, directoryChangedAt: old, files: TreeSnapshot.maxRacyFiles + 1)
        #expect(snapshot(many, digest: { _ in sha }) == nil)
        // A scan that missed something, or skipped a file for a reason that may not recur.
        var incomplete = scan(fileChangedAt: old, directoryChangedAt: old)
        incomplete.isIncomplete = true
        #expect(snapshot(incomplete) == nil)
        let vanished = SkippedPath(path: "f0.txt", reason: "vanished or unreadable while hashing")
        #expect(snapshot(scan(fileChangedAt: old, directoryChangedAt: old), skipped: [vanished]) == nil)
        // A file whose directory was not recorded.
        var orphan = scan(fileChangedAt: old, directoryChangedAt: old)
        orphan.files.append(
            ScannedFile(path: "sub/b.txt", size: 1, mtimeNanoseconds: old, ctimeNanoseconds: old, inode: 3, mode: 0o644)
        )
        #expect(snapshot(orphan) == nil)
    }

    @Test func aRacyFileIsHashedByTheCheckAndADifferentDigestMeansItIsReadAgain() async throws {
        try await withTemporaryDirectory("snapshot-racy") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeTree(tree)
                // An mtime an hour ahead (a skewed clock, or a write in the scan's own tick) is racy
                // however long the push takes to start.
                try FileManager.default.setAttributes(
                    [.modificationDate: Date(timeIntervalSinceNow: 3600)], ofItemAtPath: tree.root + "/a.txt")
                try await Self.push(tree, server)
                let idle = try await Self.push(tree, server)
                #expect(idle.unchangedSinceSnapshot, "the racy file's content was hashed and matched")

                // The digest stands for the content: one that differs has the file read and hashed again.
                let path = tree.root + "/.deltasync/" + TreeSnapshot.fileName
                var bytes = try FileSystem.readAll(path)
                let digest = Array(TestBundle.sha256("alpha\n").hex.utf8)
                let at = try #require(bytes.firstRange(of: digest))
                bytes.replaceSubrange(at, with: Array(String(repeating: "0", count: 64).utf8))
                bytes.removeLast(8)
                withUnsafeBytes(of: TreeSnapshot.checksum(bytes[...]).littleEndian) { bytes.append(contentsOf: $0) }
                try FileSystem.writeAtomically(path, bytes)
                let rescanned = try await Self.push(tree, server)
                #expect(!rescanned.unchangedSinceSnapshot && rescanned.changedSinceSnapshot && rescanned.bundles == 0)
                #expect(try await Self.push(tree, server).unchangedSinceSnapshot)
            }
        }
    }

    @Test func aWatchStartingOnAnUnchangedTreeSkipsTheCatchUpScan() async throws {
        try await withTemporaryDirectory("snapshot-watch") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try Self.writeTree(tree)
                try await Self.push(tree, server)
                try await WatchTests.watching(tree, server) { session in
                    #expect(session.caughtUpFromSnapshot)
                    try tree.write("later.txt", "written while watched\n")
                    await WatchTests.settle(session)
                }
                try PushTest.expectInSync(
                    tree, server, ignoring: ["debug.log", "node_modules/pkg/index.js", ".gitignore"])
                // A change made while nothing watched: the snapshot no longer matches, so it is scanned.
                try await Self.push(tree, server)
                try Self.appendInPlace(tree.root + "/docs/guide.md", "offline edit\n")
                try await WatchTests.watching(tree, server) { session in
                    #expect(!session.caughtUpFromSnapshot)
                    await WatchTests.settle(session)
                }
                try PushTest.expectInSync(
                    tree, server, ignoring: ["debug.log", "node_modules/pkg/index.js", ".gitignore"])
            }
        }
    }

    @Test func theScanRecordsEveryDirectoryReadWithItsRuleFiles() throws {
        let directory = try ScanTestDirectory()
        try directory.write("a/b/c.txt", "1")
        try directory.write("a/.gitignore", "skip/\n")
        try directory.write("a/skip/inner.txt", "ignored")
        try directory.write(".deltasyncignore", "")
        try directory.makeDirectory("empty")
        let result = try TreeScanner(root: directory.path, ignore: IgnoreRules(root: directory.path)).scan()
        let recorded = Dictionary(uniqueKeysWithValues: result.directories.map { ($0.path, $0) })
        #expect(Set(recorded.keys) == ["", "a", "a/b", "empty"], "the ignored a/skip is not read")
        #expect(recorded["a"]?.ruleFiles.map(\.name) == [".gitignore"])
        #expect(recorded[""]?.ruleFiles.map(\.name) == [".deltasyncignore"])
        #expect(recorded["a/b"]?.fingerprint == StatFingerprint(lstatAt: directory.path + "/a/b"))
        #expect(!result.isIncomplete)
    }
}
