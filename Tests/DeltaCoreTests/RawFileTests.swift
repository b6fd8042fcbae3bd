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

    /// `FileSystem.readAll` reads a file of any size whole, and refuses one over its limit.
    @Test(arguments: [0, 1, 4095, 65_536, 65_537, 300_001])
    func readAllReadsTheWholeFile(size: Int) async throws {
        try await withTemporaryDirectory("read-all") { directory in
            let path = directory.sub("file")
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
            try FileSystem.writeAtomically(path, bytes)
            #expect(try FileSystem.readAll(path) == bytes)
            #expect(try FileSystem.readAll(path, limit: size) == bytes, "a file exactly at the limit is read")
            if size > 0 {
                #expect(throws: DeltaError.self) { try FileSystem.readAll(path, limit: size - 1) }
            }
        }
    }

    /// A file that is not what its stat said (a kernel file whose size reads as 0) is still
    /// read whole.
    @Test func readAllReadsPastTheSizeTheFileSaid() throws {
        let bytes = try FileSystem.readAll("/proc/self/status")
        #expect(bytes.count > 0)
        #expect(String(decoding: bytes, as: UTF8.self).contains("\nPid:"))
        #expect(throws: DeltaError.self) { try FileSystem.readAll("/proc/self/status", limit: 16) }
    }

    @Test func theUmaskIsKnown() {
        #expect(FileSystem.umask != nil)
    }
}
