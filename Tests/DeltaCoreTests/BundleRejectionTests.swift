import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// Every rule of "Bad input gets a clear 4xx", at the codec level.
@Suite struct BundleRejectionTests {
    let checker = BundleReaderTests()

    /// A bundle with one created file plus whatever `edit` does.
    static func bundle(_ edit: (inout TestBundle) -> Void = { _ in }) throws -> [UInt8] {
        var bundle = TestBundle()
        edit(&bundle)
        return try bundle.gzip()
    }

    static func valid(_ bundle: inout TestBundle, path: String = "a.txt", text: String = "A") {
        bundle.add("files/created/" + path, text)
        bundle.addOperations([BundleOperation(operation: .created, path: path, contentHash: TestBundle.sha256(text))])
        bundle.addManifest(bundleID: "b1")
    }

    @Test func notGzip() throws {
        try checker.expectRejected(Array("this is plain text, not a bundle".utf8), .notGzip)
        try checker.expectRejected([], .notGzip)
    }

    @Test func gzipButNotTar() throws {
        try checker.expectRejected(try Gzip.compress(Array(repeating: 0x41, count: 2048)), .invalidTar)
    }

    @Test func truncatedGzip() throws {
        let good = try Self.bundle { Self.valid(&$0) }
        try checker.expectRejected(Array(good.prefix(good.count - 10)), .invalidGzip)
    }

    @Test func corruptGzip() throws {
        var bytes = try Self.bundle { Self.valid(&$0) }
        for index in 20..<40 { bytes[index] ^= 0xff }
        try checker.expectRejected(bytes, .invalidGzip)
    }

    @Test func trailingBytesAndSecondMember() throws {
        let good = try Self.bundle { Self.valid(&$0) }
        try checker.expectRejected(good + Array("junk".utf8), .trailingData)
        try checker.expectRejected(good + good, .trailingData)
    }

    @Test func missingManifest() throws {
        try checker.expectRejected(try Self.bundle { $0.add("files/created/a", "A") }, .missingManifest)
    }

    @Test func invalidManifest() throws {
        try checker.expectRejected(try Self.bundle { $0.add("manifest.json", "{not json") }, .invalidManifest)
        try checker.expectRejected(
            try Self.bundle { $0.add("manifest.json", "{\"version\":\"1.0\"}") }, .invalidManifest)
        try checker.expectRejected(
            try Self.bundle {
                $0.addManifest(bundleID: "../../etc"); $0.addOperations([])
            }, .invalidManifest
        )
        // manifest present but operations.json missing
        try checker.expectRejected(try Self.bundle { $0.addManifest(bundleID: "x") }, .invalidManifest)
    }

    @Test func unsupportedVersion() throws {
        try checker.expectRejected(
            try Self.bundle {
                $0.addManifest(bundleID: "x", version: "2.0"); $0.addOperations([])
            }, .unsupportedVersion
        )
    }

    @Test func compressedSizeOverLimit() throws {
        let good = try Self.bundle { Self.valid(&$0) }
        try checker.expectRejected(
            good, .bundleTooLarge, limits: BundleLimits(maxCompressedBytes: Int64(good.count - 1)))
    }

    @Test func uncompressedTotalOverLimitStopsAtTheCap() throws {
        // A 64 MiB file of zeros compresses to ~64 KiB: a bomb against a 1 MiB cap.
        var tar: [UInt8] = []
        let writer = TarWriter { tar.append(contentsOf: $0) }
        try writer.addFile(name: "files/created/bomb", bytes: [UInt8](repeating: 0, count: 64 << 20))
        try writer.finish()
        let bomb = try Gzip.compress(tar)
        let directory = try TemporaryDirectory("bomb")
        defer { directory.remove() }
        let path = try directory.write("bomb.tar.gz", bomb)
        try FileSystem.createDirectory(directory.sub("tmp"))
        var seen: Int64 = 0
        let limits = BundleLimits(maxUncompressedBytes: 1 << 20, maxFileBytes: 1 << 30)
        #expect {
            try BundleReader(limits: limits, temporaryDirectory: directory.sub("tmp")).read(path: path) { seen = $0 }
        } throws: { ($0 as? DeltaError)?.code == .uncompressedTooLarge }
        // Decompression stopped within one output chunk of the cap, not at 64 MiB.
        #expect(seen <= (1 << 20) + 256 * 1024)
    }

    @Test func fileOverLimitIsRejectedFromItsHeader() throws {
        var tar: [UInt8] = []
        let writer = TarWriter { tar.append(contentsOf: $0) }
        try writer.addFile(name: "files/created/big", bytes: [UInt8](repeating: 7, count: 3 << 20))
        try writer.finish()
        try checker.expectRejected(try Gzip.compress(tar), .fileTooLarge, limits: BundleLimits(maxFileBytes: 1 << 20))
    }

    @Test func tooManyEntries() throws {
        let bytes = try Self.bundle { bundle in
            for index in 0..<20 { bundle.add("files/created/f\(index)", "x") }
        }
        try checker.expectRejected(bytes, .tooManyEntries, limits: BundleLimits(maxEntries: 10))
    }

    @Test(arguments: [
        "/etc/passwd", "files/created/../../escape", "files/created/a\u{01}b", "files/created/back\\slash",
        "files/created/" + String(repeating: "x", count: 256),
    ])
    func invalidEntryNames(_ name: String) throws {
        try checker.expectRejected(
            try Self.bundle {
                $0.add(name, "x"); $0.addManifest(bundleID: "p")
            }, .invalidPath)
    }

    @Test func nonUTF8AndNULNames() throws {
        try checker.expectRejected(
            try Self.bundle { $0.addRaw(name: Array("files/created/".utf8) + [0xff, 0xfe], bytes: [1]) }, .invalidPath
        )
        var pax = TestBundle()
        pax.addRaw(
            name: Array("PaxHeaders/x".utf8), type: "x",
            bytes: TestPax.record("path", Array("files/created/a".utf8) + [0] + Array("b".utf8)))
        pax.add("placeholder", "x")
        try checker.expectRejected(try pax.gzip(), .invalidPath)
    }

    @Test(arguments: [("2", "symlink"), ("1", "hardlink"), ("3", "char device"), ("4", "block device"), ("6", "fifo")])
    func linkAndDeviceEntries(_ type: String, _ label: String) throws {
        let bytes = try Self.bundle { bundle in
            Self.valid(&bundle)
            bundle.add("files/created/link", [], type: Character(type))
        }
        try checker.expectRejected(bytes, .unsupportedEntry)
    }

    @Test func duplicateEntries() throws {
        try checker.expectRejected(
            try Self.bundle { bundle in
                Self.valid(&bundle)
                bundle.add("files/created/a.txt", "A")
            },
            .duplicateEntry
        )
        try checker.expectRejected(
            try Self.bundle { bundle in
                Self.valid(&bundle)
                bundle.addManifest(bundleID: "again")
            },
            .duplicateEntry
        )
    }

    @Test func contentMissingForAnOperation() throws {
        try checker.expectRejected(
            try Self.bundle { bundle in
                bundle.addOperations([BundleOperation(operation: .created, path: "nothing-here.txt")])
                bundle.addManifest(bundleID: "m")
            },
            .contentMissing
        )
    }

    @Test func hashMismatchInOperations() throws {
        try checker.expectRejected(
            try Self.bundle { bundle in
                bundle.add("files/created/a.txt", "actual")
                bundle.addOperations([
                    BundleOperation(operation: .created, path: "a.txt", contentHash: TestBundle.sha1("claimed"))
                ])
                bundle.addManifest(bundleID: "h")
            },
            .hashMismatch
        )
    }

    @Test func hashMismatchInHashesJSON() throws {
        try checker.expectRejected(
            try Self.bundle { bundle in
                Self.valid(&bundle)
                bundle.add("metadata/hashes.json", "{\"file_hashes\":{\"a.txt\":\"\(TestBundle.sha256("other"))\"}}")
            },
            .hashMismatch
        )
    }

    @Test func malformedHash() throws {
        try checker.expectRejected(
            try Self.bundle { bundle in
                bundle.add("files/created/a.txt", "A")
                bundle.add(
                    "metadata/operations.json",
                    "{\"operations\":[{\"operation\":\"created\",\"path\":\"a.txt\",\"content_hash\":\"md5:abc\"}]}")
                bundle.addManifest(bundleID: "h")
            },
            .invalidHash
        )
    }

    @Test func operationPathsOutsideTheWorkspace() throws {
        for path in ["/abs/path", "../up", "a/../../b", "a\\b"] {
            try checker.expectRejected(
                try Self.bundle { bundle in
                    bundle.addOperations([BundleOperation(operation: .deleted, path: path)])
                    bundle.addManifest(bundleID: "o")
                },
                .invalidPath
            )
        }
    }

    @Test func unknownOperationAndMoveWithoutSource() throws {
        try checker.expectRejected(
            try Self.bundle { bundle in
                bundle.add("metadata/operations.json", "{\"operations\":[{\"operation\":\"renamed\",\"path\":\"a\"}]}")
                bundle.addManifest(bundleID: "u")
            },
            .invalidOperation
        )
        try checker.expectRejected(
            try Self.bundle { bundle in
                bundle.addOperations([BundleOperation(operation: .moved, path: "to")])
                bundle.addManifest(bundleID: "u")
            },
            .invalidOperation
        )
    }
}

enum TestPax {
    static func record(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [UInt8(ascii: "\n")]
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length = String(length).utf8.count + body.count }
        return Array(String(length).utf8) + body
    }
}
