import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ParentDirectory.open` must answer exactly as `open` of the whole path would: the same file,
/// the same refusals.
@Suite struct ParentDirectoryTests {
    func read(_ fd: Int32) -> String? {
        guard fd >= 0 else { return nil }
        let file = RawFile(adopting: fd, path: "")
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = (try? buffer.withUnsafeMutableBytes { try file.read(into: $0) }) ?? 0
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    @Test func opensTheFileTheWholePathNames() throws {
        let directory = try TemporaryDirectory("parent")
        defer { directory.remove() }
        try FileSystem.createDirectory(directory.sub("a"))
        try FileSystem.createDirectory(directory.sub("b"))
        _ = try directory.write("a/one", Array("a1".utf8))
        _ = try directory.write("a/two", Array("a2".utf8))
        _ = try directory.write("b/one", Array("b1".utf8))
        _ = try directory.write("top", Array("t".utf8))
        let parent = ParentDirectory()
        // In and out of directories, and back: each answer is the file at that path.
        for (path, text) in [
            ("a/one", "a1"), ("a/two", "a2"), ("b/one", "b1"), ("a/one", "a1"), ("top", "t"),
        ] {
            #expect(read(parent.open(directory.sub(path), flags: O_RDONLY | O_CLOEXEC)) == text, "\(path)")
        }
    }

    @Test func refusesWhatOpenRefuses() throws {
        let directory = try TemporaryDirectory("parent-refusals")
        defer { directory.remove() }
        try FileSystem.createDirectory(directory.sub("d"))
        _ = try directory.write("d/file", Array("x".utf8))
        #expect(symlink(directory.sub("d/file"), directory.sub("d/link")) == 0)
        let parent = ParentDirectory()
        #expect(read(parent.open(directory.sub("d/file"), flags: O_RDONLY)) == "x")

        // The last component a symlink, with O_NOFOLLOW: refused as `open` refuses it.
        #expect(parent.open(directory.sub("d/link"), flags: O_RDONLY | O_NOFOLLOW) == -1)
        #expect(errno == ELOOP)
        // Gone, in a cached directory and in a missing one.
        #expect(parent.open(directory.sub("d/missing"), flags: O_RDONLY) == -1)
        #expect(errno == ENOENT)
        #expect(parent.open(directory.sub("nowhere/file"), flags: O_RDONLY) == -1)
        #expect(errno == ENOENT)
        // A file where a directory should be.
        #expect(parent.open(directory.sub("d/file/below"), flags: O_RDONLY) == -1)
        #expect(errno == ENOTDIR)
    }
}
