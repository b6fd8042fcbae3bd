import Foundation
import Glibc
import Testing

@testable import DeltaClient

/// The walk itself: what is returned, what is reported, what is never touched.
struct TreeScannerTests {
    let directory: ScanTestDirectory

    init() throws {
        directory = try ScanTestDirectory()
    }

    private func scan(defaults: Bool = false, subdirectory: String = "") throws -> ScanResult {
        let rules = IgnoreRules(root: directory.path, useDefaultExcludes: defaults)
        return try TreeScanner(root: directory.path, ignore: rules).scan(subdirectory: subdirectory)
    }

    @Test func returnsRegularFilesInByteOrder() throws {
        for path in ["a/x", "a.b", "a-b", "a0", "b/c/d.txt", "B", "é.txt", ".hidden"] { try directory.write(path, "1") }
        try directory.makeDirectory("empty/inner")
        let result = try scan()
        #expect(result.files.map(\.path) == [".hidden", "B", "a-b", "a.b", "a/x", "a0", "b/c/d.txt", "é.txt"])
        #expect(result.skipped.isEmpty)
        #expect(result.directoryCount == 6)  // root, a, b, b/c, empty, empty/inner
    }

    @Test func fillsStatFields() throws {
        try directory.write("tool.sh", "#!/bin/sh\n", mode: 0o755)
        try directory.write("data.txt", "hello", mode: 0o640)
        try ScanTestDirectory.run(
            "/usr/bin/touch", ["-m", "-d", "@1700000000.123456789", directory.path + "/data.txt"])
        let files = try scan().files
        let data = try #require(files.first { $0.path == "data.txt" })
        let tool = try #require(files.first { $0.path == "tool.sh" })
        #expect(data.size == 5)
        #expect(data.mtimeNanoseconds == 1_700_000_000_123_456_789)
        #expect(data.inode == (try directory.inode("data.txt")))
        #expect(data.ctimeNanoseconds > 0)
        #expect(data.mode == 0o640 && !data.isExecutable)
        #expect(tool.mode == 0o755 && tool.isExecutable)
    }

    @Test func symlinksAreReportedAndNeverFollowed() throws {
        let outside = try ScanTestDirectory()
        try "secret".write(toFile: outside.path + "/outside.txt", atomically: false, encoding: .utf8)
        try directory.write("real/file.txt", "x")
        try directory.symlink("to-outside", to: outside.path)
        try directory.symlink("to-real", to: "real")
        try directory.symlink("real/to-file", to: "file.txt")
        try directory.symlink("dangling", to: "nowhere")
        let result = try scan()
        #expect(result.files.map(\.path) == ["real/file.txt"])
        let reported = Set(result.skipped.filter { $0.reason == SkippedPath.symlinkReason }.map(\.path))
        #expect(reported == ["to-outside", "to-real", "real/to-file", "dangling"])
    }

    @Test func namesTheBundleCannotCarryAreReportedAndSiblingsKept() throws {
        try directory.write("dir/good.txt", "x")
        try directory.createFile(inDirectory: "dir", nameBytes: Array("bad".utf8) + [0xFF, 0xFE] + Array(".txt".utf8))
        try directory.write("dir/tab\tname", "x")
        try directory.write("dir/back\\slash", "x")
        try directory.write("dir/zz.txt", "x")
        let result = try scan()
        #expect(result.files.map(\.path) == ["dir/good.txt", "dir/zz.txt"])
        let reasons = Dictionary(uniqueKeysWithValues: result.skipped.map { ($0.path, $0.reason) })
        #expect(reasons["dir/bad\u{FFFD}\u{FFFD}.txt"] == "path is not valid UTF-8")
        #expect(reasons["dir/tab\tname"] == "control character in path")
        #expect(reasons["dir/back\\slash"] == "backslash in path")
    }

    @Test func deceptiveNamesAndNormalisationTwinsAreSkippedAndReported() throws {
        try directory.write("u/plain.txt", "x")
        try directory.createFile(inDirectory: "u", nameBytes: Array("\u{301}mark".utf8))
        try directory.createFile(inDirectory: "u", nameBytes: Array("evil\u{202E}txt.exe".utf8))
        try directory.createFile(inDirectory: "u", nameBytes: Array("caf\u{e9}".utf8))
        try directory.createFile(inDirectory: "u", nameBytes: Array("cafe\u{301}".utf8))
        let result = try scan()
        let kept = result.files.map(\.path)
        #expect(kept.contains("u/plain.txt"))
        // Exactly one of the two canonically equivalent names is kept, the other reported.
        #expect(kept.filter { $0.hasPrefix("u/caf") }.count == 1)
        let reasons = result.skipped.map(\.reason)
        #expect(reasons.contains { $0.hasPrefix("path component starts with a combining mark") })
        #expect(reasons.contains { $0.hasPrefix("bidirectional control character") })
        #expect(reasons.contains { $0.contains("Unicode normalisation") })
        #expect(result.files.count == 2)
    }

    @Test func pathsOverTheLengthLimitAreReported() throws {
        // 17 levels of 250-byte names: deeper than 4,096 bytes, built with *at calls because the
        // absolute path is also past PATH_MAX.
        let component = String(repeating: "d", count: 250)
        var fd = open(directory.path, O_RDONLY | O_DIRECTORY)
        for _ in 0..<17 {
            #expect(mkdirat(fd, component, 0o755) == 0)
            let next = openat(fd, component, O_RDONLY | O_DIRECTORY)
            close(fd)
            fd = next
        }
        let file = openat(fd, "deep.txt", O_CREAT | O_WRONLY, 0o644)
        close(file)
        close(fd)
        try directory.write("short.txt")
        let result = try scan()
        #expect(result.files.map(\.path) == ["short.txt"])
        #expect(result.skipped.count == 1)
        #expect(result.skipped.first?.reason == "path longer than 4096 bytes")
        #expect(result.skipped.first.map { $0.path.utf8.count > 4096 } == true)
    }

    @Test func unreadableDirectoryIsReportedAndTheWalkContinues() throws {
        try directory.write("locked/inside.txt", "x")
        try directory.write("open/visible.txt", "x")
        try directory.setMode("locked", 0o000)
        defer { try? directory.setMode("locked", 0o755) }
        let result = try scan()
        #expect(result.files.map(\.path).contains("open/visible.txt"))
        // Root reads everything, so the refusal can only be observed as another user.
        if getuid() != 0 {
            #expect(result.skipped == [SkippedPath(path: "locked", reason: SkippedPath.permissionDeniedReason)])
            #expect(!result.files.map(\.path).contains("locked/inside.txt"))
        }
    }

    @Test func ignoredDirectoriesAreNeverEntered() throws {
        try directory.write(".gitignore", "skipped/\n")
        try directory.write("skipped/file.txt", "x")
        try directory.write("skipped/deep/more.txt", "x")
        // Each of these would be reported if the walk went inside.
        try directory.symlink("skipped/loop", to: "loop")
        try directory.symlink("skipped/deep/escape", to: "/")
        try directory.createFile(inDirectory: "skipped", nameBytes: [0x62, 0xFF])
        try directory.makeDirectory("skipped/locked")
        try directory.setMode("skipped/locked", 0o000)
        try directory.write("kept.txt", "x")
        let result = try scan()
        #expect(result.files.map(\.path) == [".gitignore", "kept.txt"])
        #expect(result.skipped.isEmpty)
        #expect(result.directoryCount == 1)
    }

    @Test func ruleFilesOfADirectoryApplyToAllItsEntries() throws {
        // `#` and `!` sort before `.gitignore`, so this fails if entries were judged as read.
        try directory.write("sub/.gitignore", "\\#draft\n\\!bang\n")
        for name in ["#draft", "!bang", "plain"] { try directory.write("sub/\(name)", "x") }
        #expect(try scan().files.map(\.path) == ["sub/.gitignore", "sub/plain"])
    }

    @Test func aRescanSeesChangedRuleFiles() throws {
        try directory.write(".gitignore", "*.a\n")
        try directory.write("x.a")
        try directory.write("x.b")
        let rules = IgnoreRules(root: directory.path, useDefaultExcludes: false)
        let scanner = TreeScanner(root: directory.path, ignore: rules)
        #expect(try scanner.scan().files.map(\.path) == [".gitignore", "x.b"])
        try directory.write(".gitignore", "*.b\n")
        #expect(try scanner.scan().files.map(\.path) == [".gitignore", "x.a"])
        #expect(rules.isIgnored("y.b", isDirectory: false))
    }

    @Test func defaultExcludesAndDeltasyncignoreApply() throws {
        try directory.write("node_modules/pkg/index.js")
        try directory.write("src/__pycache__/m.pyc")
        try directory.write("src/main.py")
        try directory.write(".deltasync/state.db")
        try directory.write(".git/HEAD")
        try directory.write(".deltasyncignore", "*.secret\n")
        try directory.write("src/key.secret")
        #expect(try scan(defaults: true).files.map(\.path) == [".deltasyncignore", "src/main.py"])
        #expect(try scan(defaults: false).files.map(\.path).contains("node_modules/pkg/index.js"))
    }

    @Test func specialFilesAreReported() throws {
        #expect(mkfifo(directory.path + "/pipe", 0o644) == 0)
        try directory.write("file.txt")
        let result = try scan()
        #expect(result.files.map(\.path) == ["file.txt"])
        #expect(result.skipped == [SkippedPath(path: "pipe", reason: SkippedPath.specialFileReason)])
    }

    @Test func subdirectoryScanKeepsRootRelativePathsAndAncestorRules() throws {
        try directory.write(".gitignore", "*.log\nignored/\n")
        try directory.write("a/.gitignore", "*.tmp\n")
        try directory.write("a/b/keep.txt")
        try directory.write("a/b/drop.log")
        try directory.write("a/b/drop.tmp")
        try directory.write("a/other.txt")
        try directory.write("ignored/x.txt")
        try directory.symlink("link", to: "a")
        let result = try scan(subdirectory: "a/b")
        #expect(result.files.map(\.path) == ["a/b/keep.txt"])
        #expect(result.directoryCount == 1)
        #expect(try scan(subdirectory: "ignored").files.isEmpty)
        #expect(try scan(subdirectory: "missing/dir").files.isEmpty)
        #expect(
            try scan(subdirectory: "link/b").skipped == [SkippedPath(path: "link", reason: SkippedPath.symlinkReason)])
        #expect(throws: ScanError.self) { try scan(subdirectory: "a/../b") }
    }

    @Test func missingRootThrows() {
        let rules = IgnoreRules(root: directory.path + "/missing")
        #expect(throws: ScanError.self) { try TreeScanner(root: directory.path + "/missing", ignore: rules).scan() }
    }
}
