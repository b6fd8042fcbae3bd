import Crypto
@testable import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// The reader hashes a bundle's files with SHA-1 only where its metadata may name one
/// (`EntryCollector.hashesSHA1`); wherever a hash does name one, it is worked out and checked,
/// whatever the order of the entries.
@Suite struct SkippedSHA1Tests {
    static let hello = "hello\n"
    static let world = "world\n"

    func read(_ bundle: TestBundle, gzip: Bool = true, anonymous: Bool = true) throws -> (
        ValidatedBundle, TemporaryDirectory
    ) {
        let directory = try TemporaryDirectory("sha1")
        let path = try directory.write("bundle", gzip ? try bundle.gzip() : try bundle.tar())
        try FileSystem.createDirectory(directory.sub("tmp"))
        let read = try BundleReader(
            limits: BundleLimits(), temporaryDirectory: directory.sub("tmp"), anonymousSpools: anonymous
        ).read(path: path)
        return (read, directory)
    }

    static func sha1(_ text: String) -> String { Insecure.SHA1.hash(data: Array(text.utf8)).hexString }

    /// Our client's layout: manifest and operations first, SHA-256 only.
    static func ours(hashes: [String: String]? = nil, hashesFirst: Bool = false) -> TestBundle {
        var bundle = TestBundle()
        bundle.addManifest(bundleID: "ours")
        bundle.addOperations([
            BundleOperation(operation: .created, path: "a.txt", contentHash: TestBundle.sha256(hello)),
            BundleOperation(operation: .created, path: "b.txt", contentHash: TestBundle.sha256(world)),
        ])
        let document = hashes.map { hashes in
            "{\"file_hashes\":{"
                + hashes.sorted(by: { $0.key < $1.key }).map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
                + "}}"
        }
        if hashesFirst, let document { bundle.add("metadata/hashes.json", document) }
        bundle.add("files/created/a.txt", hello)
        bundle.add("files/created/b.txt", world)
        if !hashesFirst, let document { bundle.add("metadata/hashes.json", document) }
        return bundle
    }

    @Test func filesAfterOperationsNamingNoSHA1AreNotHashedWithIt() throws {
        for anonymous in [true, false] {
            let (bundle, directory) = try read(Self.ours(), anonymous: anonymous)
            defer { bundle.discard(); directory.remove() }
            let digests = bundle.operations.compactMap(\.content?.digest)
            #expect(digests.map(\.sha1) == ["", ""])
            #expect(digests.map(\.sha256) == [TestBundle.sha256(Self.hello).hex, TestBundle.sha256(Self.world).hex])
        }
    }

    @Test func operationsNamingSHA1HaveEveryFileHashedWithIt() throws {
        var bundle = TestBundle()
        bundle.addManifest(bundleID: "existing")
        bundle.addOperations([
            BundleOperation(operation: .created, path: "a.txt", contentHash: TestBundle.sha1(Self.hello)),
            // A file whose own hash is SHA-256 still gets its SHA-1: the bundle names SHA-1.
            BundleOperation(operation: .created, path: "b.txt", contentHash: TestBundle.sha256(Self.world)),
        ])
        bundle.add("files/created/a.txt", Self.hello)
        bundle.add("files/created/b.txt", Self.world)
        let (read, directory) = try read(bundle)
        defer { read.discard(); directory.remove() }
        #expect(read.operations.compactMap(\.content?.digest.sha1) == [Self.sha1(Self.hello), Self.sha1(Self.world)])
    }

    @Test func filesBeforeTheOperationsAreHashedWithSHA1() throws {
        // Existing clients' fixtures put the files first; nothing is known of the hashes yet.
        let (read, directory) = try read(try Self.layout(filesFirst: true))
        defer { read.discard(); directory.remove() }
        #expect(read.operations.compactMap(\.content?.digest.sha1) == [Self.sha1(Self.hello)])
    }

    static func layout(filesFirst: Bool) throws -> TestBundle {
        var bundle = TestBundle()
        if filesFirst { bundle.add("files/created/a.txt", hello) }
        bundle.addManifest(bundleID: "order")
        bundle.addOperations([BundleOperation(operation: .created, path: "a.txt", contentHash: TestBundle.sha256(hello))])
        if !filesFirst { bundle.add("files/created/a.txt", hello) }
        return bundle
    }

    @Test func aHashesDocumentAfterTheFilesIsCheckedFromTheSpool() throws {
        for anonymous in [true, false] {
            let good = Self.ours(hashes: ["a.txt": "sha1:" + Self.sha1(Self.hello), "b.txt": "sha1:" + Self.sha1(Self.world)])
            let (read, directory) = try read(good, gzip: false, anonymous: anonymous)
            #expect(read.operations.compactMap(\.content?.digest.sha1) == [Self.sha1(Self.hello), Self.sha1(Self.world)])
            read.discard()
            directory.remove()

            // One wrong SHA-1, found only by reading the spooled file back.
            let bad = Self.ours(hashes: ["a.txt": "sha1:" + Self.sha1(Self.hello), "b.txt": "sha1:" + Self.sha1(Self.hello)])
            let other = try TemporaryDirectory("sha1-bad")
            defer { other.remove() }
            let path = try other.write("bundle", try bad.tar())
            try FileSystem.createDirectory(other.sub("tmp"))
            do {
                let accepted = try BundleReader(
                    limits: BundleLimits(), temporaryDirectory: other.sub("tmp"), anonymousSpools: anonymous
                ).read(path: path)
                accepted.discard()
                Issue.record("a wrong SHA-1 in hashes.json was accepted")
            } catch let error as DeltaError {
                #expect(error.code == .hashMismatch)
                #expect(error.message.contains("b.txt"))
                #expect(error.message.contains("sha1:" + Self.sha1(Self.world)), "\(error.message)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: other.sub("tmp")).isEmpty)
        }
    }

    @Test func aHashesDocumentBeforeTheFilesHasThemHashedAsTheyArrive() throws {
        let bundle = Self.ours(hashes: ["a.txt": "sha1:" + Self.sha1(Self.hello)], hashesFirst: true)
        let (read, directory) = try read(bundle)
        defer { read.discard(); directory.remove() }
        #expect(read.operations.compactMap(\.content?.digest.sha1) == [Self.sha1(Self.hello), Self.sha1(Self.world)])
    }

    @Test func anySHA1InTheMetadataCounts() {
        func mentions(_ text: String) -> Bool { EntryCollector.mentionsSHA1(Array(text.utf8)) }
        #expect(mentions("sha1"))
        #expect(mentions("{\"content_hash\":\"sha1:00\"}"))
        #expect(mentions("xxsha1"))
        #expect(mentions("sssha1"))
        #expect(!mentions(""))
        #expect(!mentions("sha"))
        #expect(!mentions("sha256:sha2"))
        #expect(!mentions("SHA1"))
        #expect(!mentions("s h a 1"))
        #expect(!mentions("shs1"))
    }
}

/// The wrapper directory is the first component every entry shares, unless it is one of the
/// layout's own names.
@Suite struct WrapperDirectoryTests {
    @Test func isTheSharedFirstComponent() {
        #expect(BundleContentMatcher.wrapperDirectory(["w", "w/manifest.json", "w/files/created/a/b"]) == "w")
        #expect(BundleContentMatcher.wrapperDirectory(["wrap/manifest.json", "wrap/metadata/operations.json"]) == "wrap")
        #expect(BundleContentMatcher.wrapperDirectory(["é/x", "é/y"]) == "é")
        #expect(BundleContentMatcher.wrapperDirectory([]) == nil)
        #expect(BundleContentMatcher.wrapperDirectory(["manifest.json", "metadata/operations.json"]) == nil)
        #expect(BundleContentMatcher.wrapperDirectory(["files/created/a", "files/created/b"]) == nil)
        #expect(BundleContentMatcher.wrapperDirectory(["metadata/x", "metadata/y"]) == nil)
        #expect(BundleContentMatcher.wrapperDirectory(["w/manifest.json", "v/manifest.json"]) == nil)
        #expect(BundleContentMatcher.wrapperDirectory(["w/manifest.json", "manifest.json"]) == nil)
        #expect(BundleContentMatcher.wrapperDirectory(["w/manifest.json", "wx/manifest.json"]) == nil)
        #expect(BundleContentMatcher.wrapperDirectory(["wx/manifest.json", "w/manifest.json"]) == nil)
    }
}
