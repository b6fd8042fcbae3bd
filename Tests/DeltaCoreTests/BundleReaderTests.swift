@testable import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

@Suite struct BundleReaderTests {
    func read(
        _ bytes: [UInt8], limits: BundleLimits = BundleLimits(), in directory: TemporaryDirectory,
        anonymousSpools: Bool = true
    ) throws -> ValidatedBundle {
        let path = try directory.write("bundle.tar.gz", bytes)
        try FileSystem.createDirectory(directory.sub("tmp"))
        return try BundleReader(
            limits: limits, temporaryDirectory: directory.sub("tmp"), anonymousSpools: anonymousSpools
        ).read(path: path)
    }

    /// Reads and expects a rejection with `code`; also checks the spool was cleaned up.
    func expectRejected(
        _ bytes: [UInt8], _ code: DeltaError.Code, limits: BundleLimits = BundleLimits(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let directory = try TemporaryDirectory("reader")
        defer { directory.remove() }
        do {
            let bundle = try read(bytes, limits: limits, in: directory)
            bundle.discard()
            Issue.record("expected \(code), bundle was accepted", sourceLocation: sourceLocation)
        } catch let error as DeltaError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.sub("tmp"))
        #expect(leftovers.isEmpty, "spool not removed: \(leftovers)", sourceLocation: sourceLocation)
    }

    @Test func readsFixtureBundles() throws {
        let directory = try TemporaryDirectory("fixture")
        defer { directory.remove() }
        let first = try read(FileSystem.readAll(Fixtures.path("bundle1_initial.tar.gz")), in: directory)
        defer { first.discard() }
        #expect(first.manifest.bundleID == "d845ce86-c71e-4ffb-9cdf-5a9908d12dab")
        #expect(
            first.operations.map(\.operation.path) == [
                "README.md", "Dockerfile", ".gitignore", "src/main.py", "src/pkg/hello.py",
            ])
        #expect(first.operations.allSatisfy { $0.content != nil })
        let readme = try #require(first.operations.first?.content)
        #expect(try FileSystem.readAll(readme.path).count == 7)
        #expect(readme.digest.sha1 == "51be2fc04ed544be998582eaa478f385174a2cfd")

        let second = try read(FileSystem.readAll(Fixtures.path("bundle2_delta.tar.gz")), in: directory)
        defer { second.discard() }
        #expect(
            second.operations.map(\.operation.operation) == [.created, .created, .updated, .moved, .deleted, .deleted])
        let moved = second.operations[3]
        #expect(moved.operation.sourcePath == "src/pkg/hello.py")
        #expect(moved.content?.digest.sha256 == "229840439be6796dbd256ad01d4c15b2c58bd42a26d7ed675dd2b18f88270596")
    }

    @Test func roundTripsOurWriter() throws {
        let directory = try TemporaryDirectory("roundtrip")
        defer { directory.remove() }
        let longName = (0..<30).map { "directory\($0)" }.joined(separator: "/") + "/file.txt"  // > 256 bytes: PAX
        let mediumName = String(repeating: "m", count: 90) + "/" + String(repeating: "n", count: 60)  // ustar prefix
        let binary = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let sourceFile = try directory.write("source.bin", binary)
        let entries: [BundleWriter.Entry] = [
            .init(operation: op(.created, "src/ünïcødé 文件.txt", "héllo"), content: .bytes(Array("héllo".utf8))),
            .init(operation: op(.created, longName, "long"), content: .bytes(Array("long".utf8))),
            .init(operation: op(.created, mediumName, "medium"), content: .bytes(Array("medium".utf8))),
            .init(operation: op(.created, "empty", ""), content: .bytes([])),
            .init(
                operation: BundleOperation(
                    operation: .updated, path: "bin/tool", contentHash: TestBundle.sha256(binary), mode: 0o755),
                content: .file(path: sourceFile, size: Int64(binary.count))
            ),
            .init(operation: BundleOperation(operation: .moved, path: "b.txt", sourcePath: "a.txt"), content: nil),
            .init(operation: BundleOperation(operation: .deleted, path: "gone.txt"), content: nil),
        ]
        let path = directory.sub("out.tar.gz")
        try BundleWriter().write(
            to: path, bundleID: "round-trip-1", workspacePath: "/work/app", sequenceNumber: 3, entries: entries)
        try FileSystem.createDirectory(directory.sub("tmp"))
        let bundle = try BundleReader(temporaryDirectory: directory.sub("tmp")).read(path: path)
        defer { bundle.discard() }
        #expect(bundle.manifest.bundleID == "round-trip-1")
        #expect(bundle.manifest.sequenceNumber == 3)
        #expect(bundle.manifest.operations == OperationCounts(created: 4, updated: 1, deleted: 1, moved: 1))
        #expect(bundle.operations.map(\.operation.path) == entries.map(\.operation.path))
        #expect(bundle.operations[1].operation.path == longName)
        #expect(try FileSystem.readAll(try #require(bundle.operations[4].content).path) == binary)
        #expect(bundle.operations[4].isExecutable)
        #expect(bundle.operations[3].content?.digest.size == 0)
        #expect(bundle.operations[5].content == nil)
    }

    @Test func acceptsEntriesInAnyOrderAndByteByByteChunks() throws {
        var bundle = TestBundle()
        bundle.add("files/created/a.txt", "A")
        bundle.addOperations([op(.created, "a.txt", "A")])
        bundle.addManifest(bundleID: "late-manifest")  // manifest last, as existing clients do
        let tar = try bundle.tar()
        // The tar parser must give the same result however the stream is cut.
        var reader = TarReader()
        var names: [String] = []
        var data: [UInt8] = []
        for byte in tar {
            try [byte].withUnsafeBytes { raw in
                try reader.consume(raw) { event in
                    switch event {
                    case .begin(let entry): names.append(String(decoding: entry.name, as: UTF8.self))
                    case .data(let bytes): data.append(contentsOf: bytes)
                    case .end: break
                    }
                }
            }
        }
        #expect(names == ["files/created/a.txt", "metadata/operations.json", "manifest.json"])
        #expect(reader.isFinished)
        let directory = try TemporaryDirectory("order")
        defer { directory.remove() }
        let validated = try read(try bundle.gzip(), in: directory)
        validated.discard()
        #expect(validated.manifest.bundleID == "late-manifest")
    }

    @Test func readsGNULongNames() throws {
        let name = String(repeating: "g", count: 150) + "/file.txt"
        var bundle = TestBundle()
        bundle.addRaw(name: Array("././@LongLink".utf8), type: "L", bytes: Array(("files/created/" + name).utf8) + [0])
        bundle.add("files/created/truncated-name-ignored", "G")
        bundle.addOperations([op(.created, name, "G")])
        bundle.addManifest(bundleID: "gnu")
        let directory = try TemporaryDirectory("gnu")
        defer { directory.remove() }
        let validated = try read(try bundle.gzip(), in: directory)
        defer { validated.discard() }
        #expect(validated.operations.first?.operation.path == name)
    }

    @Test func stripsOneWrapperDirectoryOnly() throws {
        var bundle = TestBundle()
        bundle.add("wrap/files/created/x", "X")
        bundle.addOperations([op(.created, "x", "X")], prefix: "wrap/")
        bundle.addManifest(bundleID: "w", prefix: "wrap/")
        let directory = try TemporaryDirectory("wrap")
        defer { directory.remove() }
        let validated = try read(try bundle.gzip(), in: directory)
        validated.discard()
        #expect(validated.operations.count == 1)

        var nested = TestBundle()
        nested.add("a/b/manifest.json", "{\"version\":\"1.0\",\"bundle_id\":\"n\"}")
        nested.add("a/c", "x")
        try expectRejected(try nested.gzip(), .missingManifest)
    }

    /// A bundle's small metadata documents are read into memory, not spooled: the spool holds
    /// the files' content only (a one-file save creates one spool file, not four). A file named
    /// like a document below `files/` is content all the same.
    /// In an uncompressed bundle each spooled file's bytes are found where the reader says, past
    /// extension headers and across read chunks; a compressed bundle has no such ranges.
    @Test func contentRangesLocateEachFileInAnUncompressedBundle() throws {
        let long = String(repeating: "deep/", count: 40) + "name.bin"
        let large = (0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        var bundle = TestBundle()
        bundle.add("files/created/a.txt", "alpha")
        bundle.add("files/created/" + long, large)
        bundle.add("files/created/empty", [])
        bundle.addOperations([
            op(.created, "a.txt", "alpha"),
            BundleOperation(
                operation: .created, path: long, contentHash: TestBundle.sha256(large), sizeBytes: Int64(large.count)),
            op(.created, "empty", ""),
        ])
        bundle.addManifest(bundleID: "r")
        let directory = try TemporaryDirectory("ranges")
        defer { directory.remove() }
        let plain = try bundle.tar()
        let validated = try read(plain, in: directory)
        defer { validated.discard() }
        #expect(validated.format == .tar)
        // The empty file has no bytes to name, and the metadata documents are not spooled.
        #expect(
            validated.contentRanges.map(\.sha256) == [TestBundle.sha256("alpha").hex, TestBundle.sha256(large).hex])
        for range in validated.contentRanges {
            let bytes = Array(plain[Int(range.offset)..<Int(range.offset + range.size)])
            #expect(TestBundle.sha256(bytes).hex == range.sha256)
        }
        let compressed = try read(try bundle.gzip(), in: directory)
        defer { compressed.discard() }
        #expect(compressed.format == .tarGz)
        #expect(compressed.contentRanges.isEmpty)
    }

    /// With anonymous spool files off (and past their limit, `AnonymousSpool.limit`), content is
    /// spooled to named files in the temporary directory.
    @Test func metadataIsReadInMemoryAndContentIsSpooled() throws {
        var bundle = TestBundle()
        bundle.add("wrap/files/created/x", "X")
        bundle.add("wrap/files/created/metadata/hashes.json", "{}")
        bundle.add("wrap/files/created/manifest.json", "M")
        bundle.addOperations(
            [op(.created, "x", "X"), op(.created, "metadata/hashes.json", "{}"), op(.created, "manifest.json", "M")],
            prefix: "wrap/")
        bundle.addManifest(bundleID: "m", prefix: "wrap/")
        let directory = try TemporaryDirectory("memory")
        defer { directory.remove() }
        let validated = try read(try bundle.gzip(), in: directory, anonymousSpools: false)
        defer { validated.discard() }
        // Spool files, not a spool directory: nothing else in the temporary directory.
        let spooled = try FileManager.default.contentsOfDirectory(atPath: directory.sub("tmp"))
        #expect(spooled.count == 3, "\(spooled)")
        #expect(Set(spooled.map { directory.sub("tmp") + "/" + $0 }) == Set(validated.spooled))
        for operation in validated.operations {
            let content = try #require(operation.content)
            #expect(content.bytes == nil && content.path.hasPrefix(validated.spoolPrefix) && content.anonymous == nil)
        }
        #expect(validated.operations.map(\.operation.path) == ["x", "metadata/hashes.json", "manifest.json"])

        #expect(EntryCollector.isMetadataName(Array("manifest.json".utf8)))
        #expect(EntryCollector.isMetadataName(Array("w/metadata/operations.json".utf8)))
        #expect(!EntryCollector.isMetadataName(Array("a/b/manifest.json".utf8)))
        #expect(!EntryCollector.isMetadataName(Array("files/created/manifest.json".utf8)))
        #expect(!EntryCollector.isMetadataName(Array("/manifest.json".utf8)))
        #expect(!EntryCollector.isMetadataName(Array("xmanifest.json".utf8)))
    }

    /// Content is spooled to anonymous files: nothing is named in the temporary directory, each
    /// operation's content reads back whole through its path, the documents read into memory
    /// have none, and every descriptor is closed once the last copy of the bundle is dropped.
    @Test func contentIsSpooledToAnonymousFilesClosedWhenTheBundleIsDropped() throws {
        var bundle = TestBundle()
        bundle.add("files/created/a", "alpha")
        bundle.add("files/created/b", "beta")
        bundle.addOperations([op(.created, "a", "alpha"), op(.created, "b", "beta")])
        bundle.addManifest(bundleID: "anonymous")
        let directory = try TemporaryDirectory("anonymous")
        defer { directory.remove() }
        var validated: ValidatedBundle? = try read(try bundle.gzip(), in: directory)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.sub("tmp")).isEmpty)
        #expect(validated?.spooled == [])
        // Weak references: the spool files (and their descriptors) are gone once they are nil.
        var spools: [WeakSpool] = []
        for operation in validated?.operations ?? [] {
            let content = try #require(operation.content)
            let anonymous = try #require(content.anonymous)
            #expect(content.path == anonymous.path && content.bytes == nil)
            #expect(fcntl(anonymous.file.fd, F_GETFD) >= 0)
            #expect(
                try FileSystem.readAll(content.path)
                    == Array((operation.operation.path == "a" ? "alpha" : "beta").utf8))
            spools.append(WeakSpool(spool: anonymous, file: anonymous.file))
        }
        #expect(spools.count == 2)
        validated?.discard()
        validated = nil
        #expect(spools.allSatisfy { $0.spool == nil && $0.file == nil })
    }

    struct WeakSpool {
        weak var spool: AnonymousSpool?
        weak var file: RawFile?
    }

    /// Each spool file is created in the mode its tar header asks for (0644, or 0755 when any
    /// execute bit is set), never more, and says so: storing it then needs no `chmod`.
    @Test(arguments: [true, false])
    func spoolFilesTakeTheModeTheirHeaderAsksFor(anonymous: Bool) throws {
        var bundle = TestBundle()
        bundle.add("files/created/plain", Array("P".utf8), mode: 0o664)
        bundle.add("files/created/tool", Array("T".utf8), mode: 0o711)
        bundle.add("files/created/secret", Array("S".utf8), mode: 0o600)
        bundle.addOperations([op(.created, "plain", "P"), op(.created, "tool", "T"), op(.created, "secret", "S")])
        bundle.addManifest(bundleID: "modes")
        let directory = try TemporaryDirectory("spool-modes")
        defer { directory.remove() }
        let validated = try read(try bundle.gzip(), in: directory, anonymousSpools: anonymous)
        defer { validated.discard() }
        let umask = try #require(FileSystem.umask)
        let expected: [String: UInt32] = ["plain": 0o644, "tool": 0o755, "secret": 0o644]
        for operation in validated.operations {
            let content = try #require(operation.content)
            let mode = try #require(expected[operation.operation.path]) & ~UInt32(umask)
            #expect(content.spoolMode == mode, "\(operation.operation.path)")
            #expect((content.anonymous != nil) == anonymous)
            // Through `RawFile`: a `stat` struct's members, used here, failed a clean build
            // ("not available due to missing import of defining module 'CDispatch'").
            let info = try RawFile.open(reading: content.path).fingerprint()
            #expect(info.mode & 0o7777 == mode, "\(operation.operation.path)")
        }
    }

    func op(_ kind: OperationKind, _ path: String, _ text: String) -> BundleOperation {
        BundleOperation(
            operation: kind, path: path, contentHash: TestBundle.sha256(text), sizeBytes: Int64(text.utf8.count))
    }
}
