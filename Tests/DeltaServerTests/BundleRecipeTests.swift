import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Synchronization
import Testing

/// An uncompressed bundle is kept as a recipe: its own bytes with each file's content named by
/// its blob. It is served back byte for byte, also after a restart; a compressed bundle is kept
/// whole.
@Suite struct BundleRecipeTests {
    /// Bytes that do not repeat, so a misplaced chunk cannot go unnoticed.
    static func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// A plain tar creating `files`, each `(path, bytes)`.
    static func plainBundle(_ files: [(String, [UInt8])]) throws -> [UInt8] {
        var bundle = TestBundle()
        var operations: [BundleOperation] = []
        for (path, bytes) in files {
            bundle.add("files/created/" + path, bytes)
            operations.append(
                BundleOperation(
                    operation: .created, path: path, contentHash: TestBundle.sha256(bytes),
                    sizeBytes: Int64(bytes.count)))
        }
        bundle.addManifest(bundleID: UUID().uuidString.lowercased())
        bundle.addOperations(operations)
        return try bundle.tar()
    }

    /// Where the blob store keeps `bundle`: a compressed one by its SHA-256, an uncompressed one
    /// (whose recipe is kept) by its identity.
    static func stored(_ work: String, _ bundle: [UInt8]) -> String {
        let hex = bundle.starts(with: [0x1f, 0x8b]) ? TestBundle.sha256(bundle).hex : identity(ofPlain: bundle)
        return work + "/blobs/" + hex.prefix(2) + "/" + hex
    }

    /// An uncompressed bundle's identity as `BundleRecipe.Identity` defines it, made here from
    /// the tar's own layout: each regular file's bytes (but the small metadata documents, which
    /// the server reads into memory) are a piece `C`, length, SHA-256 hex; each run of other
    /// bytes (headers, padding, metadata, the end blocks) a piece `L`, length, SHA-256 hex.
    static func identity(ofPlain tar: [UInt8]) -> String {
        var pieces: [UInt8] = []
        func piece(_ tag: Character, _ bytes: ArraySlice<UInt8>) {
            guard !bytes.isEmpty else { return }
            pieces.append(UInt8(ascii: tag.unicodeScalars.first!))
            withUnsafeBytes(of: UInt64(bytes.count).bigEndian) { pieces.append(contentsOf: $0) }
            pieces.append(contentsOf: TestBundle.sha256(Array(bytes)).hex.utf8)
        }
        var runStart = 0
        var offset = 0
        while offset + 512 <= tar.count, tar[offset..<(offset + 512)].contains(where: { $0 != 0 }) {
            let header = tar[offset..<(offset + 512)]
            let name = String(decoding: header.prefix(100).prefix { $0 != 0 }, as: UTF8.self)
            let sizeField = String(decoding: header.dropFirst(124).prefix(12).prefix { $0 != 0 && $0 != 32 }, as: UTF8.self)
            let size = Int(sizeField, radix: 8) ?? 0
            let type = header[header.startIndex + 156]
            let metadata = ["manifest.json", "metadata/operations.json", "metadata/hashes.json"].contains(name)
            let start = offset + 512
            if (type == UInt8(ascii: "0") || type == 0), size > 0, !metadata {
                piece("L", tar[runStart..<start])
                piece("C", tar[start..<(start + size)])
                runStart = start + size
            }
            offset = start + (size + 511) / 512 * 512
        }
        piece("L", tar[runStart...])
        return TestBundle.sha256(pieces).hex
    }

    @Test func anUncompressedBundleIsKeptAsARecipeAndServedBackByteForByte() async throws {
        try await withTemporaryDirectory("recipe") { directory in
            let work = directory.path
            let big = Self.noise(3 << 20 + 123, seed: 7)
            // Larger than a chunk of the reply, content shared by two files, an empty file.
            let first = try Self.plainBundle([
                ("big.bin", big), ("a.txt", Array("hello".utf8)), ("empty", []), ("same.txt", Array("hello".utf8)),
            ])
            // A file whose content the store already holds.
            let second = try Self.plainBundle([("b.txt", Array("hello".utf8)), ("c.txt", Self.noise(700, seed: 9))])
            let compressed = try TestBundle.simple(files: ["z.txt": "zipped"])
            do {
                let server = try await ServerProcess.start(workDirectory: work)
                for bundle in [first, second] {
                    let reply = try await HTTP.upload(server.baseURL, bundle: bundle, fields: [("workspace", "ws")])
                    #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
                }
                let zipped = try await HTTP.upload(
                    server.baseURL, bundle: compressed, fields: [("workspace", "zipped")])
                #expect(zipped.status == 200)
                for (sequence, bundle) in [(1, first), (2, second)] {
                    let served = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/\(sequence)?workspace=ws")
                    #expect(served.status == 200)
                    #expect(served.body == bundle)
                    #expect(served.headers.first { $0.0.lowercased() == "content-type" }?.1 == "application/x-tar")
                }
                await server.shutDown()
            }
            // Kept as recipes, not whole: the file bytes are in the blobs only.
            for bundle in [first, second] {
                let recipe = Self.stored(work, bundle) + ".recipe"
                #expect(FileSystem.exists(recipe))
                #expect(!FileSystem.exists(Self.stored(work, bundle)))
            }
            let recipeSize = try RawFile.open(reading: Self.stored(work, first) + ".recipe").size()
            #expect(recipeSize < 64 * 1024, "a recipe of \(recipeSize) bytes for a bundle of \(first.count)")
            // The compressed bundle is kept as it came.
            #expect(try FileSystem.readAll(Self.stored(work, compressed)) == compressed)
            #expect(!FileSystem.exists(Self.stored(work, compressed) + ".recipe"))
            // Nothing of the uploads is left behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/tmp").isEmpty)

            // After a restart: the same bytes.
            let server = try await ServerProcess.start(workDirectory: work)
            defer { server.stop() }
            let served = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/1?workspace=ws")
            #expect(served.body == first)
            let zippedServed = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/1?workspace=zipped")
            #expect(zippedServed.body == compressed)
        }
    }

    @Test func aRecipeWhoseBlobIsGoneIsNeverServedAsTheBundle() async throws {
        try await withTemporaryDirectory("recipe-damaged") { directory in
            let work = directory.path
            let big = Self.noise(2 << 20, seed: 3)
            let bundle = try Self.plainBundle([("big.bin", big), ("a.txt", Array("alpha".utf8))])
            let server = try await ServerProcess.start(workDirectory: work)
            defer { server.stop() }
            #expect(try await HTTP.upload(server.baseURL, bundle: bundle, fields: [("workspace", "ws")]).status == 200)
            // Damage from outside: the big file's blob (and its materialised link) removed.
            let hex = TestBundle.sha256(big).hex
            try FileManager.default.removeItem(atPath: work + "/blobs/" + hex.prefix(2) + "/" + hex)
            let served = try? await HTTP.get(server.baseURL + "/api/v1/delta/bundles/1?workspace=ws")
            // The reply is cut short (or refused): never a body that passes for the bundle.
            #expect(served?.body != bundle)
            #expect(served.map { $0.body.count < bundle.count || $0.status != 200 } ?? true)
            // The server carries on.
            let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
            #expect(status.status == 200)
            #expect(status.json["last_sequence"] == .int(1))
        }
    }

    /// A batch of a plain bundle is written on the blocking pool while the next bytes are read:
    /// a client gone while one is still being written leaves nothing behind once it is done,
    /// and nothing changed.
    @Test func aPlainUploadCutOffWhileABatchIsWrittenLeavesNothing() async throws {
        let parked = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let first = FirstTime()
        try await withTemporaryDirectory("recipe-cut-off") { directory in
            try await TestServer.with(
                workDirectory: directory.path,
                configure: { configuration in
                    configuration.failpoints.blockingHook = { point, workspace in
                        // The cut-off upload only: the one after it goes through.
                        guard point == .duringValidate, workspace == "ws", first.take() else { return }
                        parked.signal()
                        release.wait()
                    }
                }
            ) { server in
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let big = Self.noise(1 << 20, seed: 11)
                let (head, body) = ShutdownTests.upload(
                    try Self.plainBundle([("big.bin", big), ("small.txt", Array("small".utf8))]),
                    expectContinue: false)
                do {
                    let connection = try RawHTTPConnection(port: server.port)
                    #expect(await connection.write(head))
                    // More than one batch: the first is handed to the pool (and parked there),
                    // the rest waits for the next.
                    #expect(await connection.write(Array(body.prefix(300 << 10))))
                    await withCheckedContinuation { (resumed: CheckedContinuation<Void, Never>) in
                        Thread {
                            parked.wait()
                            resumed.resume()
                        }.start()
                    }
                }  // The connection closes here, the body 700 KiB short.
                // Not an assertion on time: only gives the server the moment to see the close.
                try await Task.sleep(for: .milliseconds(300))
                release.signal()
                // Not an assertion on time either: the released batch writes its spool file within
                // a millisecond, and a server that removed what the upload wrote without waiting
                // for it leaves that file behind. Looked at at once, the directory was still empty.
                try await Task.sleep(for: .milliseconds(200))
                var leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.sub("tmp"))
                for _ in 0..<3000 where !leftovers.isEmpty {
                    try await Task.sleep(for: .milliseconds(10))
                    leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.sub("tmp"))
                }
                #expect(leftovers.isEmpty, "left in tmp: \(leftovers)")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                let hex = TestBundle.sha256(big).hex
                #expect(!FileSystem.exists(directory.path + "/blobs/" + hex.prefix(2) + "/" + hex))
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["next.txt": "next"])).status == 200)
            }
        }
    }

    /// Read as it arrives, a plain bundle is found bad at its first entry, megabytes before its
    /// end: it is refused once the body is in, as before, and what was spooled is gone.
    @Test func aPlainBundleRefusedPartWayLeavesNothing() async throws {
        try await withTemporaryDirectory("recipe-refused") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["kept.txt": "kept"])).status == 200)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let big = Self.noise(3 << 20, seed: 5)
                var bundle = TestBundle()
                bundle.add("files/created/first.bin", big)
                bundle.add("files/created/link", [], type: "2")
                bundle.add("files/created/last.bin", big)
                bundle.addManifest(bundleID: UUID().uuidString.lowercased())
                bundle.addOperations([
                    BundleOperation(
                        operation: .created, path: "first.bin", contentHash: TestBundle.sha256(big),
                        sizeBytes: Int64(big.count))
                ])
                let reply = try await ServerTest.upload(server, try bundle.tar())
                #expect(reply.status == 400)
                #expect(reply.errorCode == "UNSUPPORTED_ENTRY")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.sub("tmp")).isEmpty)
                // Neither the first file's content nor a recipe was kept.
                let hex = TestBundle.sha256(big).hex
                #expect(!FileSystem.exists(directory.path + "/blobs/" + hex.prefix(2) + "/" + hex))
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(updates: ["kept.txt": "again"])).status == 200
                )
            }
        }
    }
}

/// True the first time it is taken, false after.
final class FirstTime: Sendable {
    private let taken = Atomic(false)

    func take() -> Bool { !taken.exchange(true, ordering: .relaxed) }
}
