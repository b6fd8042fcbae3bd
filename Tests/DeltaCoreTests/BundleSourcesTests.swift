@testable import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// A bundle kept as its source list makes the same uncompressed bundle our writer makes, the same
/// bytes every time while its files are unchanged, and stops before a changed file's last byte.
@Suite struct BundleSourcesTests {
    /// Files at the edges of tar blocks and of the stream's chunks, a name that needs a PAX
    /// header, an executable, an empty file, and entries without content.
    struct Sample {
        let directory: TemporaryDirectory
        var entries: [BundleWriter.Entry] = []
        var contents: [String: [UInt8]] = [:]

        init(_ directory: TemporaryDirectory, fingerprints: Bool) throws {
            self.directory = directory
            let longName = (0..<30).map { "directory\($0)" }.joined(separator: "/") + "/file.txt"
            let sizes: [(String, Int)] = [
                ("empty", 0), ("one", 1), ("block-1", 511), ("block", 512), ("block+1", 513),
                ("chunk+", 300_000), (longName, 2_000), ("bin/tool", 70_000),
            ]
            try FileSystem.createDirectory(directory.sub("src"))
            for (index, (path, size)) in sizes.enumerated() {
                let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
                let source = directory.sub("src/\(index)")
                try FileSystem.writeAtomically(source, bytes, sync: false)
                if fingerprints {
                    // Unchanged for a while, as a fingerprint is only trusted then: a rewrite in
                    // the same clock tick as the creation would otherwise keep every field.
                    var times = [
                        timespec(tv_sec: 1_500_000_000, tv_nsec: 0), timespec(tv_sec: 1_500_000_000, tv_nsec: 0),
                    ]
                    #expect(utimensat(AT_FDCWD, source, &times, 0) == 0)
                }
                let mode: UInt32 = path == "bin/tool" ? 0o755 : 0o644
                entries.append(
                    BundleWriter.Entry(
                        operation: BundleOperation(
                            operation: .created, path: path, contentHash: TestBundle.sha256(bytes), mode: mode),
                        content: .file(path: source, size: Int64(size)),
                        hashedAs: fingerprints ? StatFingerprint(lstatAt: source) : nil))
                contents[path] = bytes
            }
            entries.append(
                .init(operation: BundleOperation(operation: .moved, path: "b.txt", sourcePath: "a.txt"), content: nil))
            entries.append(.init(operation: BundleOperation(operation: .deleted, path: "gone.txt"), content: nil))
        }

        func source(_ index: Int) -> String { directory.sub("src/\(index)") }
    }

    /// Reads the whole bundle a list makes, `chunk` bytes at a time.
    static func stream(_ path: String, chunk: Int) throws -> [UInt8] {
        let stream = try BundleSourceStream(path: path)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return bytes
    }

    /// Reads until the stream throws; returns what it gave before, and the error.
    static func streamUntilError(_ path: String) throws -> (bytes: Int, error: DeltaError?) {
        let stream = try BundleSourceStream(path: path)
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            do {
                let count = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
                if count == 0 { return (total, nil) }
                total += count
            } catch let error as DeltaError {
                return (total, error)
            }
        }
    }

    @Test(arguments: [false, true])
    func makesTheBundleOurWriterMakes(fingerprints: Bool) throws {
        let directory = try TemporaryDirectory("sources")
        defer { directory.remove() }
        let sample = try Sample(directory, fingerprints: fingerprints)
        let list = directory.sub("bundle" + BundleSources.fileExtension)
        let (bundleSize, listSize) = try BundleWriter(format: .tar).writeSources(
            to: list, bundleID: "sources-1", workspacePath: "/work/app", sequenceNumber: nil,
            entries: sample.entries)
        #expect(listSize == (try RawFile.open(reading: list).size()))
        #expect(BundleSources.isIntact(list, bundleSize: bundleSize))
        // Far smaller than the content it names: no copy of any file's bytes.
        #expect(listSize < 20_000 && bundleSize > 370_000)

        let whole = try Self.stream(list, chunk: 256 * 1024)
        #expect(Int64(whole.count) == bundleSize)
        // The same bytes however it is read, and on every read (a replay is idempotent).
        #expect(try Self.stream(list, chunk: 7) == whole)
        #expect(try Self.stream(list, chunk: 1000) == whole)
        #expect(try whole.withUnsafeBytes { try BundleFormat.detect($0) } == .tar)

        // A copy written by the writer has the same length (only `created_at` can differ).
        let copy = directory.sub("copy.tar")
        let copySize = try BundleWriter(format: .tar).write(
            to: copy, bundleID: "sources-1", workspacePath: "/work/app", sequenceNumber: nil,
            entries: sample.entries, sync: false)
        #expect(copySize == bundleSize)

        let path = try directory.write("made.tar", whole)
        try FileSystem.createDirectory(directory.sub("tmp"))
        let bundle = try BundleReader(temporaryDirectory: directory.sub("tmp")).read(path: path)
        defer { bundle.discard() }
        #expect(bundle.manifest.bundleID == "sources-1")
        #expect(bundle.operations.map(\.operation.path) == sample.entries.map(\.operation.path))
        for operation in bundle.operations {
            guard let content = operation.content else { continue }
            #expect(try FileSystem.readAll(content.path) == sample.contents[operation.operation.path])
        }
        #expect(bundle.operations.first { $0.operation.path == "bin/tool" }?.isExecutable == true)
    }

    /// Each way a file can change after its bundle was queued stops the stream with
    /// `CHANGED_WHILE_BUNDLING` before the bundle is whole (the receiver then has no bundle).
    @Test(arguments: [false, true])
    func aChangedFileStopsTheStreamBeforeTheBundleIsWhole(fingerprints: Bool) throws {
        let changes: [(String, (Sample) throws -> Void)] = [
            (
                "same size, other bytes",
                { sample in
                    var bytes = sample.contents["chunk+"]!
                    bytes[150_000] ^= 0xFF
                    try Self.rewrite(sample.source(5), bytes)
                }
            ),
            ("grown", { sample in try Self.rewrite(sample.source(3), sample.contents["block"]! + [1]) }),
            (
                "shrunk",
                { sample in try Self.rewrite(sample.source(7), Array(sample.contents["bin/tool"]!.prefix(10))) }
            ),
            ("gone", { sample in #expect(unlink(sample.source(1)) == 0) }),
            (
                "a symlink now",
                { sample in
                    #expect(unlink(sample.source(4)) == 0)
                    #expect(symlink(sample.source(5), sample.source(4)) == 0)
                }
            ),
            (
                "a FIFO now",
                { sample in
                    #expect(unlink(sample.source(6)) == 0)
                    #expect(mkfifo(sample.source(6), 0o644) == 0)
                }
            ),
        ]
        for (name, change) in changes {
            let directory = try TemporaryDirectory("changed")
            defer { directory.remove() }
            let sample = try Sample(directory, fingerprints: fingerprints)
            let list = directory.sub("bundle" + BundleSources.fileExtension)
            let (bundleSize, _) = try BundleWriter(format: .tar).writeSources(
                to: list, bundleID: "changed-1", workspacePath: nil, sequenceNumber: nil, entries: sample.entries)
            let before = try FileSystem.readAll(list)
            try change(sample)
            let (produced, error) = try Self.streamUntilError(list)
            #expect(error?.code == .changedWhileBundling, "\(name): \(String(describing: error))")
            #expect(Int64(produced) < bundleSize, "\(name)")
            // The list itself is left as it was: the caller decides what to do.
            #expect(try FileSystem.readAll(list) == before, "\(name)")
        }
    }

    /// With a fingerprint recorded, a file touched without a change in content still stops the
    /// stream: the fingerprint is all there is to trust, as when the bundle was queued.
    @Test func aTouchedFileWithAFingerprintStopsTheStream() throws {
        let directory = try TemporaryDirectory("touched")
        defer { directory.remove() }
        let sample = try Sample(directory, fingerprints: true)
        let list = directory.sub("bundle" + BundleSources.fileExtension)
        try BundleWriter(format: .tar).writeSources(
            to: list, bundleID: "touched-1", workspacePath: nil, sequenceNumber: nil, entries: sample.entries)
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, sample.source(2), &times, 0) == 0)
        #expect(try Self.streamUntilError(list).error?.code == .changedWhileBundling)
    }

    /// A list cut short (a power loss before its fsync), or recorded for another size, is not
    /// intact, and is refused whole rather than read.
    @Test func aListCutShortIsNotIntact() throws {
        let directory = try TemporaryDirectory("cut")
        defer { directory.remove() }
        let sample = try Sample(directory, fingerprints: false)
        let list = directory.sub("bundle" + BundleSources.fileExtension)
        let (bundleSize, listSize) = try BundleWriter(format: .tar).writeSources(
            to: list, bundleID: "cut-1", workspacePath: nil, sequenceNumber: nil, entries: sample.entries)
        #expect(BundleSources.isIntact(list, bundleSize: bundleSize))
        #expect(!BundleSources.isIntact(list, bundleSize: bundleSize + 1))
        #expect(!BundleSources.isIntact(directory.sub("missing"), bundleSize: bundleSize))
        for length in [listSize - 1, 40, 20, 0] {
            #expect(truncate(list, off_t(length)) == 0)
            #expect(!BundleSources.isIntact(list, bundleSize: bundleSize))
            #expect(throws: DeltaError.self) { try BundleSourceStream(path: list) }
        }
    }

    /// A file's entry needs a fingerprint or a SHA-256 to be kept by reference.
    @Test func onlyCheckableEntriesCanBeReferenced() throws {
        let withHash = BundleWriter.Entry(
            operation: BundleOperation(operation: .created, path: "a", contentHash: TestBundle.sha256("a")),
            content: .file(path: "/nonexistent", size: 1))
        let withSHA1 = BundleWriter.Entry(
            operation: BundleOperation(operation: .created, path: "a", contentHash: TestBundle.sha1("a")),
            content: .file(path: "/nonexistent", size: 1))
        let bytes = BundleWriter.Entry(
            operation: BundleOperation(operation: .created, path: "a", contentHash: TestBundle.sha1("a")),
            content: .bytes([1]))
        #expect(BundleWriter.canReference([withHash, bytes]))
        #expect(!BundleWriter.canReference([withHash, withSHA1]))
        var fingerprinted = withSHA1
        fingerprinted.hashedAs = StatFingerprint(size: 1, mtimeNanoseconds: 1, ctimeNanoseconds: 1, inode: 1, mode: 0)
        #expect(BundleWriter.canReference([fingerprinted]))
    }

    /// Rewrites a file in place (same inode), as an editor saving over it does.
    static func rewrite(_ path: String, _ bytes: [UInt8]) throws {
        let file = try RawFile.create(path)
        try file.write(bytes)
    }
}
