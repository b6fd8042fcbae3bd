import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// Spool files with no name: nothing appears in their directory, their bytes read back through
/// their path, and linking one names it once, never over a file in place.
@Suite struct AnonymousSpoolTests {
    /// Both ways of linking (the descriptor's empty path, and /proc/self/fd/N where a kernel
    /// refuses that) name the file alike. Other tests may link meanwhile: either way is right.
    @Test(.serialized, arguments: [true, false])
    func anAnonymousFileIsNamedOnlyByItsLinkAndNeverReplacesAFile(emptyPath: Bool) throws {
        let before = AnonymousSpool.linksByEmptyPath
        AnonymousSpool.linksByEmptyPath = emptyPath
        defer { AnonymousSpool.linksByEmptyPath = before }
        let directory = try TemporaryDirectory("anonymous-spool")
        defer { directory.remove() }
        let spool = try #require(try AnonymousSpool.make(in: directory.path, mode: 0o755))
        try spool.file.write(Array("bytes".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        #expect(try FileSystem.readAll(spool.path) == Array("bytes".utf8))

        // Its directory missing: nil, and nothing made. Not a refusal of the empty path either:
        // the /proc way, asked then, finds the directory missing too, so the empty path stays.
        #expect(try spool.link(as: directory.sub("missing/name")) == nil)
        #expect(!FileSystem.exists(directory.sub("missing")))
        #expect(AnonymousSpool.linksByEmptyPath == emptyPath)

        #expect(try spool.link(as: directory.sub("named")) == true)
        #expect(try FileSystem.readAll(directory.sub("named")) == Array("bytes".utf8))
        // Where the kernel allows the empty path, it was the way taken (a refusal turns it off).
        if emptyPath && Self.kernelAllowsEmptyPath { #expect(AnonymousSpool.linksByEmptyPath) }
        let umask = try #require(FileSystem.umask)
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.sub("named"))
        #expect((attributes[.posixPermissions] as? Int).map(UInt32.init) == 0o755 & ~UInt32(umask))

        // A file in place is kept as it is.
        _ = try directory.write("taken", Array("kept".utf8))
        #expect(try spool.link(as: directory.sub("taken")) == false)
        #expect(try FileSystem.readAll(directory.sub("taken")) == Array("kept".utf8))
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory.path)) == ["named", "taken"])
    }

    /// Linux 6.10 and later let a file's opener link it by the empty path; any kernel lets a
    /// process with CAP_DAC_READ_SEARCH (root, as CI runs).
    static var kernelAllowsEmptyPath: Bool {
        if geteuid() == 0 { return true }
        let kernel = ProcessInfo.processInfo.operatingSystemVersion
        return (kernel.majorVersion, kernel.minorVersion) >= (6, 10)
    }

    @Test func aMissingDirectoryIsAnErrorNotAMissingFeature() throws {
        let directory = try TemporaryDirectory("anonymous-missing")
        defer { directory.remove() }
        #expect(throws: DeltaError.self) { try AnonymousSpool.make(in: directory.sub("gone"), mode: 0o644) }
        // Still made where the directory exists.
        #expect(try AnonymousSpool.make(in: directory.path, mode: 0o644) != nil)
    }
}
