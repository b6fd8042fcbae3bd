import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// `RawFile.create(_:exactMode:)`: a mirrored file gets exactly the mode it is asked for, and
/// never opens an existing file (a staged download's name is new each time).
@Suite struct RawFileTests {
    @Test(arguments: [0o644, 0o755, 0o600, 0o777] as [UInt32])
    func createsWithExactlyTheModeAskedFor(mode: UInt32) async throws {
        try await withTemporaryDirectory("mode") { directory in
            let path = directory.sub("file")
            let file = try RawFile.create(path, exactMode: mode_t(mode))
            try file.write(Array("x".utf8))
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect(((attributes[.posixPermissions] as? NSNumber)?.uint32Value ?? 0) & 0o7777 == mode)
        }
    }

    @Test func anExistingFileIsNotOpened() async throws {
        try await withTemporaryDirectory("exists") { directory in
            let path = directory.sub("file")
            try FileSystem.writeAtomically(path, Array("keep".utf8))
            #expect(throws: DeltaError.self) { try RawFile.create(path, exactMode: 0o644) }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep")
        }
    }

    @Test func theUmaskIsKnown() {
        #expect(FileSystem.umask != nil)
    }
}
