import Crypto
import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaServer

/// Files of bundles whose metadata names no SHA-1 (our client's) are stored without one; the
/// file table must still answer every lookup by SHA-1 (an existing client's move) as if each file
/// had had it worked out on arrival.
@Suite struct SHA1FillTests {
    static let hello = "hello\n"

    static func sha1(_ text: String) -> String { Insecure.SHA1.hash(data: Array(text.utf8)).hexString }

    /// Our client's layout (manifest and operations first, SHA-256 only), uncompressed.
    static func ours(_ files: [String: String], id: String) throws -> [UInt8] {
        var bundle = TestBundle()
        bundle.addManifest(bundleID: id)
        bundle.addOperations(
            files.sorted(by: { $0.key < $1.key }).map {
                BundleOperation(operation: .created, path: $0.key, contentHash: TestBundle.sha256($0.value))
            })
        for (path, text) in files.sorted(by: { $0.key < $1.key }) { bundle.add("files/created/" + path, text) }
        return try bundle.tar()
    }

    /// An existing client's move of content it does not send, found by its SHA-1.
    static func moveBySHA1(to path: String, from source: String, content: String, id: String) throws -> [UInt8] {
        var bundle = TestBundle()
        bundle.addOperations([
            BundleOperation(operation: .moved, path: path, sourcePath: source, contentHash: TestBundle.sha1(content))
        ])
        bundle.addManifest(bundleID: id)
        return try bundle.gzip()
    }

    static func records(_ server: TestServer, _ paths: [String]) async throws -> [String: FileRecord] {
        let found = try await server.prepared.storage.files(workspace: "ws", paths: paths)
        return Dictionary(uniqueKeysWithValues: found.values.map { ($0.path, $0) })
    }

    @Test func aMoveBySHA1FindsContentStoredWithoutOne() async throws {
        try await withTemporaryDirectory("sha1-fill") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let first = try await ServerTest.upload(
                    server, try Self.ours(["keep/a.txt": Self.hello, "b.txt": "other\n"], id: "ours-1"))
                #expect(first.status == 200, "\(String(decoding: first.body, as: UTF8.self))")
                let stored = try await Self.records(server, ["keep/a.txt", "b.txt"])
                #expect(stored["keep/a.txt"]?.sha1 == "", "hashed with SHA-1 though nothing names it")
                #expect(stored["b.txt"]?.sha1 == "")

                // The source is gone: only the lookup by SHA-1 can find the content.
                let reply = try await ServerTest.upload(
                    server, try Self.moveBySHA1(to: "c.txt", from: "gone.txt", content: Self.hello, id: "theirs-1"))
                #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
                let tree = try await ServerTest.manifestTree(server, workspace: "ws").tree
                #expect(tree["c.txt"] == TestBundle.sha256(Self.hello).hex)
                #expect(try ServerTest.materialised(directory.path, workspace: "ws")["c.txt"] == TestBundle.sha256(Self.hello).hex)
                // Every file's SHA-1 is now known, the moved one's too.
                let filled = try await Self.records(server, ["keep/a.txt", "b.txt", "c.txt"])
                #expect(filled["keep/a.txt"]?.sha1 == Self.sha1(Self.hello))
                #expect(filled["b.txt"]?.sha1 == Self.sha1("other\n"))
                #expect(filled["c.txt"]?.sha1 == Self.sha1(Self.hello))
                #expect(try await server.prepared.storage.filesWithoutSHA1(workspace: "ws", limit: 10).isEmpty)
            }
        }
    }

    @Test func aMoveBySHA1OfContentNobodyHoldsIsRefusedAndChangesNothing() async throws {
        try await withTemporaryDirectory("sha1-missing") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(try await ServerTest.upload(server, try Self.ours(["a.txt": Self.hello], id: "ours-1")).status == 200)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let reply = try await ServerTest.upload(
                    server, try Self.moveBySHA1(to: "c.txt", from: "gone.txt", content: "nobody\n", id: "theirs-1"))
                #expect(reply.status == 422, "\(String(decoding: reply.body, as: UTF8.self))")
                #expect(reply.errorCode == "CONTENT_MISSING")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
            }
        }
    }

    @Test func filesOfAnExistingClientsBundleKeepTheirSHA1() async throws {
        try await withTemporaryDirectory("sha1-fixture") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let reply = try await ServerTest.upload(server, try ServerTest.fixture("bundle1_initial.tar.gz"))
                #expect(reply.status == 200)
                #expect(try await server.prepared.storage.filesWithoutSHA1(workspace: "ws", limit: 10).isEmpty)
                let readme = try await Self.records(server, ["README.md"])["README.md"]
                #expect(readme?.sha1 == "51be2fc04ed544be998582eaa478f385174a2cfd")
            }
        }
    }
}
