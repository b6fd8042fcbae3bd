import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// A blob stored for a file takes the file's mode and the materialised copy is a hard link to
/// it: one inode per file. A copy that needs another mode gets an inode of its own, and a blob's
/// mode never changes once it is stored.
@Suite struct SharedInodeTests {
    struct Node: Equatable {
        var inode: UInt64
        var mode: Int
        var links: Int
    }

    static func node(_ path: String) throws -> Node {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return Node(
            inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0,
            mode: ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o7777,
            links: (attributes[.referenceCount] as? NSNumber)?.intValue ?? 0)
    }

    static func blob(_ work: String, _ text: String) -> String {
        let hex = TestBundle.sha256(text).hex
        return work + "/blobs/" + hex.prefix(2) + "/" + hex
    }

    /// `files` as created (or updated) files, each `(path, text, mode)` in that order.
    static func bundle(_ files: [(String, String, UInt32)], kind: OperationKind = .created) throws -> [UInt8] {
        var bundle = TestBundle()
        var operations: [BundleOperation] = []
        for (path, text, mode) in files {
            bundle.add("files/\(kind.rawValue)/" + path, Array(text.utf8), mode: mode)
            operations.append(
                BundleOperation(
                    operation: kind, path: path, contentHash: TestBundle.sha256(text),
                    sizeBytes: Int64(text.utf8.count), mode: mode))
        }
        bundle.addManifest(bundleID: UUID().uuidString.lowercased())
        bundle.addOperations(operations)
        return try bundle.gzip()
    }

    @Test func theCopyIsTheBlobWhenTheModesAgreeAndACopyWhenTheyDiffer() async throws {
        try await withTemporaryDirectory("shared-inode") { directory in
            let work = directory.path
            try await TestServer.with(workDirectory: work) { server in
                let first = try await ServerTest.upload(
                    server,
                    try Self.bundle([
                        ("a.txt", "same", 0o644), ("bin/run", "same", 0o755), ("c.sh", "tool", 0o755),
                        ("d.txt", "other", 0o644),
                    ]))
                #expect(first.status == 200, "\(String(decoding: first.body, as: UTF8.self))")
                let copy = work + "/workspaces/ws/"
                let same = try Self.node(Self.blob(work, "same"))
                // The first file to bring the content sets the blob's mode; it shares the inode.
                #expect(same.mode == 0o644)
                #expect(try Self.node(copy + "a.txt") == same)
                #expect(same.links == 2)
                // Same content, other mode: a copy of its own, with its own mode.
                let run = try Self.node(copy + "bin/run")
                #expect(run.inode != same.inode)
                #expect(run.mode == 0o755)
                #expect(try Self.node(Self.blob(work, "tool")) == Self.node(copy + "c.sh"))
                #expect(try Self.node(copy + "c.sh").mode == 0o755)
                #expect(try Self.node(copy + "d.txt").inode == Self.node(Self.blob(work, "other")).inode)

                // The same content written again over the same name: still one inode, and the
                // temporary link made to replace it atomically is gone.
                let again = try await ServerTest.upload(
                    server, try Self.bundle([("a.txt", "same", 0o644)], kind: .updated))
                #expect(again.status == 200, "\(String(decoding: again.body, as: UTF8.self))")
                #expect(try Self.node(copy + "a.txt") == Self.node(Self.blob(work, "same")))
                #expect(try Self.node(Self.blob(work, "same")).links == 2)
                #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/tmp").isEmpty)

                // A mode change of the shared file never changes the blob: the file gets a copy.
                let executable = try await ServerTest.upload(
                    server, try Self.bundle([("a.txt", "same", 0o755)], kind: .updated))
                #expect(executable.status == 200, "\(String(decoding: executable.body, as: UTF8.self))")
                #expect(try Self.node(copy + "a.txt").mode == 0o755)
                #expect(try Self.node(copy + "a.txt").inode != Self.node(Self.blob(work, "same")).inode)
                #expect(try Self.node(Self.blob(work, "same")).mode == 0o644)
                #expect(try Self.node(Self.blob(work, "same")).links == 1)

                // Deleting a file leaves its blob whole.
                let deleted = try await ServerTest.upload(server, try TestBundle.simple(deletes: ["d.txt"]))
                #expect(deleted.status == 200, "\(String(decoding: deleted.body, as: UTF8.self))")
                #expect(!FileSystem.exists(copy + "d.txt"))
                #expect(try FileSystem.readAll(Self.blob(work, "other")) == Array("other".utf8))
                #expect(try Self.node(Self.blob(work, "other")).links == 1)

                // Every copy still holds what the file table says.
                let manifest = try await ServerTest.manifestTree(server, workspace: "ws").tree
                #expect(try ServerTest.materialised(work, workspace: "ws") == manifest)
            }
        }
    }

    @Test func aRebuiltCopySharesTheBlobsToo() async throws {
        try await withTemporaryDirectory("shared-rebuild") { directory in
            let work = directory.path
            do {
                let server = try await ServerProcess.start(workDirectory: work)
                let reply = try await HTTP.upload(
                    server.baseURL, bundle: try Self.bundle([("a.txt", "alpha", 0o644), ("b/c.txt", "gamma", 0o644)]),
                    fields: [("workspace", "ws")])
                #expect(reply.status == 200)
                await server.shutDown()
            }
            try FileManager.default.removeItem(atPath: work + "/workspaces/ws")
            let server = try await ServerProcess.start(workDirectory: work)
            defer { server.stop() }
            // Start-up repair wrote the copy again: as links to the blobs.
            #expect(try Self.node(work + "/workspaces/ws/a.txt") == Self.node(Self.blob(work, "alpha")))
            #expect(try Self.node(work + "/workspaces/ws/b/c.txt") == Self.node(Self.blob(work, "gamma")))
        }
    }
}
