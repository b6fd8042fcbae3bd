import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// Uncompressed tar bundles (`supported_formats` lists `tar`): told from `tar.gz` by their first
/// bytes, read to the same result, and held to every rule a `tar.gz` is.
@Suite struct BundleFormatTests {
    let checker = BundleReaderTests()

    static func plain(_ edit: (inout TestBundle) -> Void) throws -> [UInt8] {
        var bundle = TestBundle()
        edit(&bundle)
        return try bundle.tar()
    }

    func detect(_ bytes: [UInt8]) throws -> BundleFormat { try bytes.withUnsafeBytes { try BundleFormat.detect($0) } }

    func detectionError(_ bytes: [UInt8]) -> DeltaError? {
        do {
            _ = try detect(bytes)
            return nil
        } catch {
            return error as? DeltaError
        }
    }

    @Test func formatsAreToldApartByTheirFirstBytes() throws {
        let tar = try Self.plain { BundleRejectionTests.valid(&$0) }
        #expect(try detect(tar) == .tar)
        #expect(try detect(try Gzip.compress(tar)) == .tarGz)
        let zstd = detectionError([0x28, 0xB5, 0x2F, 0xFD] + Array(repeating: 0, count: 600))
        #expect(zstd?.code == .notGzip)
        #expect(zstd?.message.contains("zstd") == true)
        // A tar without the ustar magic (an old v7 archive) is not taken for one.
        var v7 = tar
        for index in 257..<263 { v7[index] = 0 }
        #expect(detectionError(v7)?.code == .notGzip)
        #expect(detectionError([])?.code == .notGzip)
        #expect(detectionError(Array("plain text".utf8))?.message.contains("neither gzip") == true)
        #expect(BundleFormat.served == ["tar.gz", "tar"])
    }

    @Test func ourWriterAndReaderAgreeOnBothFormats() throws {
        let directory = try TemporaryDirectory("formats")
        defer { directory.remove() }
        let binary = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let source = try directory.write("source.bin", binary)
        let entries: [BundleWriter.Entry] = [
            .init(operation: checker.op(.created, "docs/a.txt", "alpha"), content: .bytes(Array("alpha".utf8))),
            .init(
                operation: BundleOperation(
                    operation: .created, path: "bin/tool", contentHash: TestBundle.sha256(binary), mode: 0o755),
                content: .file(path: source, size: Int64(binary.count))),
            .init(operation: BundleOperation(operation: .deleted, path: "gone.txt"), content: nil),
        ]
        try FileSystem.createDirectory(directory.sub("tmp"))
        var sizes: [BundleFormat: Int64] = [:]
        for format in BundleFormat.allCases {
            let path = directory.sub("out" + format.fileExtension)
            sizes[format] = try BundleWriter(format: format).write(
                to: path, bundleID: "fmt-\(format.rawValue)", workspacePath: "/work/app", sequenceNumber: 1,
                entries: entries)
            #expect(try BundleFormat.detect(fileAt: path) == format)
            // Named spool files: what `discard(except:)` leaves is checked below.
            let bundle = try BundleReader(temporaryDirectory: directory.sub("tmp"), anonymousSpools: false).read(
                path: path)
            #expect(bundle.manifest.bundleID == "fmt-\(format.rawValue)")
            #expect(bundle.operations.map(\.operation.path) == ["docs/a.txt", "bin/tool", "gone.txt"])
            #expect(try FileSystem.readAll(try #require(bundle.operations[1].content).path) == binary)
            #expect(bundle.operations[1].isExecutable)
            // What the caller moved away is left alone; the rest of the spool is removed.
            let moved = try #require(bundle.operations[1].content).path
            bundle.discard(except: [moved])
            #expect(FileSystem.exists(moved))
            #expect(!FileSystem.exists(try #require(bundle.operations[0].content).path))
            unlink(moved)
        }
        // The plain tar is the archive itself: bigger than the compressed one, never smaller
        // than its content.
        #expect(try #require(sizes[.tar]) > Int64(binary.count))
        #expect(try #require(sizes[.tarGz]) < #require(sizes[.tar]))
    }

    @Test func plainTarIsReadWhateverTheFirstReadReturns() throws {
        // A bundle shorter than one tar block is rejected as what it is, not read past its end.
        try checker.expectRejected(Array(repeating: 0x41, count: 100), .notGzip)
        // The smallest valid plain bundle: the magic sits at offset 257 of the first header.
        let tar = try Self.plain { BundleRejectionTests.valid(&$0) }
        let directory = try TemporaryDirectory("small")
        defer { directory.remove() }
        let bundle = try checker.read(tar, in: directory)
        bundle.discard()
        #expect(bundle.manifest.bundleID == "b1")
    }

    @Test func plainTarsAreHeldToTheSameRules() throws {
        // Each of these is refused with the code its tar.gz twin gets, and the spool is removed.
        try checker.expectRejected(
            try Self.plain { bundle in
                bundle.add("files/created/../escape.txt", "X")
                BundleRejectionTests.valid(&bundle)
            }, .invalidPath)
        try checker.expectRejected(
            try Self.plain { bundle in
                bundle.add("files/created/link", [], type: "2")
                BundleRejectionTests.valid(&bundle)
            }, .unsupportedEntry)
        try checker.expectRejected(
            try Self.plain { bundle in
                bundle.add("files/created/a.txt", "B")
                bundle.addOperations([
                    BundleOperation(operation: .created, path: "a.txt", contentHash: TestBundle.sha256("A"))
                ])
                bundle.addManifest(bundleID: "h")
            }, .hashMismatch)
        try checker.expectRejected(try Self.plain { $0.add("files/created/a", "A") }, .missingManifest)
        let good = try Self.plain { BundleRejectionTests.valid(&$0) }
        try checker.expectRejected(Array(good.prefix(700)), .invalidTar)
        try checker.expectRejected(good + Array("junk".utf8), .trailingData)
        try checker.expectRejected(good, .bundleTooLarge, limits: BundleLimits(maxCompressedBytes: 1024))
        try checker.expectRejected(
            try Self.plain { bundle in
                bundle.add("files/created/big", Array(repeating: 0x42, count: 5000))
                BundleRejectionTests.valid(&bundle)
            }, .fileTooLarge, limits: BundleLimits(maxFileBytes: 4096))
        try checker.expectRejected(
            try Self.plain { bundle in
                for index in 0..<10 { bundle.add("files/created/f\(index)", "x") }
                BundleRejectionTests.valid(&bundle)
            }, .tooManyEntries, limits: BundleLimits(maxEntries: 5))
    }

    @Test func zeroPaddingAfterTheArchiveIsAccepted() throws {
        // GNU tar and Python's tarfile pad to a 10 KiB record with zeros.
        let good = try Self.plain { BundleRejectionTests.valid(&$0) }
        let padded = good + Array(repeating: 0, count: 10240 - good.count % 10240)
        let directory = try TemporaryDirectory("padded")
        defer { directory.remove() }
        let bundle = try checker.read(padded, in: directory)
        bundle.discard()
        #expect(bundle.manifest.bundleID == "b1")
        try checker.expectRejected(try Gzip.compress(good + Array("junk".utf8)), .trailingData)
    }
}
