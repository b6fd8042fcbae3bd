@testable import DeltaCore
import DeltaTestSupport
import Foundation
import GRDB
import Testing

@testable import DeltaServer

/// An uncompressed bundle is named by `BundleRecipe.Identity` (its files' bytes by their
/// SHA-256), not by hashing all its bytes again: the name must not depend on how the bytes came
/// in, must change with any byte, and a bundle logged by an older server under the SHA-256 of
/// its bytes, sent again, is still a duplicate (and a different one under its id a conflict).
@Suite struct BundleIdentityTests {
    /// The identity of literal runs and blobs handed to a builder in the given cuts.
    static func identity(_ pieces: [BundleRecipeFormatTests.Piece], in directory: String) throws -> String {
        let builder = try BundleRecipe.Builder(path: directory + "/r-\(UUID().uuidString).recipe")
        for piece in pieces {
            switch piece {
            case .literal(let bytes):
                try bytes.withUnsafeBytes { try builder.literal($0) }
            case .blob(let bytes):
                try builder.content(
                    BundleContentRange(
                        offset: 0, size: Int64(bytes.count), sha256: TestBundle.sha256(bytes).hex, spool: "",
                        anonymous: nil))
            }
        }
        try builder.finish()
        return builder.identity
    }

    @Test func theIdentityDoesNotDependOnCutsAndChangesWithEveryByte() async throws {
        try await withTemporaryDirectory("identity") { directory in
            let head = BundleRecipeTests.noise(1_500, seed: 1)
            let body = BundleRecipeTests.noise(4_000, seed: 2)
            let tail = BundleRecipeTests.noise(700, seed: 3)
            let whole = try Self.identity([.literal(head), .blob(body), .literal(tail)], in: directory.path)
            // The same literal bytes in other cuts (as batches of the body fall): the same name.
            for cut in [1, 7, 512, 1_499] {
                let cuts: [BundleRecipeFormatTests.Piece] = [
                    .literal(Array(head[..<cut])), .literal(Array(head[cut...])), .blob(body),
                    .literal(Array(tail.prefix(3))), .literal([]), .literal(Array(tail.dropFirst(3))),
                ]
                #expect(try Self.identity(cuts, in: directory.path) == whole, "cut at \(cut)")
            }
            // Its definition: pieces of tag, length and SHA-256 hex.
            var pieces: [UInt8] = []
            for (tag, bytes) in [("L", head), ("C", body), ("L", tail)] {
                pieces += Array(tag.utf8)
                withUnsafeBytes(of: UInt64(bytes.count).bigEndian) { pieces += $0 }
                pieces += Array(TestBundle.sha256(bytes).hex.utf8)
            }
            #expect(whole == TestBundle.sha256(pieces).hex)
            // Any byte changed, in a literal or a blob, or a byte moved across a blob's edge.
            var changedHead = head
            changedHead[700] ^= 1
            var changedBody = body
            changedBody[3_999] ^= 0x80
            let others: [[BundleRecipeFormatTests.Piece]] = [
                [.literal(changedHead), .blob(body), .literal(tail)],
                [.literal(head), .blob(changedBody), .literal(tail)],
                [.literal(head + [body[0]]), .blob(Array(body.dropFirst())), .literal(tail)],
                [.literal(head), .blob(body), .literal(tail), .literal([0])],
                [.literal(head), .blob(body), .blob([]), .literal(tail)],
            ]
            for (index, other) in others.enumerated() {
                #expect(try Self.identity(other, in: directory.path) != whole, "variant \(index)")
            }
        }
    }

    @Test func aBundleLoggedByItsBytesSHA256IsStillADuplicate() async throws {
        try await withTemporaryDirectory("identity-old-row") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let storage = try #require(server.prepared.storage as? SQLiteStorage)
                let bundle = try Self.plain(id: "same-id", text: "first")
                #expect(try await ServerTest.upload(server, bundle).status == 200)
                // As a server from before the identity logged and stored it.
                let identity = BundleRecipeTests.identity(ofPlain: bundle)
                let old = TestBundle.sha256(bundle).hex
                #expect(try await storage.change(workspace: "ws", sequence: 1)?.bundleSHA256 == identity)
                try await storage.pool.write { db in
                    try db.execute(
                        sql: "UPDATE change SET bundle_sha256 = ? WHERE bundle_id = 'same-id'", arguments: [old])
                }
                let blobs = directory.sub("blobs")
                try FileSystem.createDirectory(blobs + "/" + old.prefix(2))
                try FileManager.default.moveItem(
                    atPath: blobs + "/" + identity.prefix(2) + "/" + identity + ".recipe",
                    toPath: blobs + "/" + old.prefix(2) + "/" + old + ".recipe")
                let before = try await ServerTest.snapshot(server, workspace: "ws")

                let again = try await ServerTest.upload(server, bundle)
                #expect(again.status == 200)
                #expect(again.json["duplicate"] == .bool(true))
                #expect(again.json["sequence_number"]?.intValue == 1)
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                let served = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/1?workspace=ws")
                #expect(served.body == bundle)

                // Another bundle under the same id is refused, and changes nothing.
                let other = try await ServerTest.upload(server, try Self.plain(id: "same-id", text: "second"))
                #expect(other.status == 409)
                #expect(other.errorCode == "BUNDLE_ID_CONFLICT")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
            }
        }
    }

    /// An uncompressed bundle creating `a.txt` with `text`.
    static func plain(id: String, text: String) throws -> [UInt8] {
        var bundle = TestBundle()
        bundle.add("files/created/a.txt", Array(text.utf8))
        bundle.addManifest(bundleID: id)
        bundle.addOperations([
            BundleOperation(
                operation: .created, path: "a.txt", contentHash: TestBundle.sha256(text),
                sizeBytes: Int64(text.utf8.count))
        ])
        return try bundle.tar()
    }
}
