import DeltaCore
@testable import DeltaServer
import DeltaTestSupport
import Foundation
import Logging
import Testing

/// One test per row of the attack review (issue "Hardening"), over the real server: each hostile
/// request gets a 4xx with its code, the server stays up, nothing changes, and a restart is clean.
@Suite struct HardeningTests {
    /// The server answers, and the workspace's database and disk agree byte for byte.
    static func expectHealthy(_ server: TestServer, workspace: String = "ws") async throws {
        #expect(try await HTTP.get(server.baseURL + "/health").status == 200)
        let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace=\(workspace)")
            .decode(ManifestResponse.self)
        let onDisk = try DiskTree.files(server.configuration.workDirectory + "/workspaces/" + workspace)
        let listed = Set(manifest.files.map { PathKey($0.path) })
        // The differences, not the sets: a failure with 1,100 files must still say what is wrong.
        #expect(listed.subtracting(onDisk).isEmpty, "in the manifest, not on disk")
        #expect(onDisk.subtracting(listed).isEmpty, "on disk, not in the manifest")
    }

    static func seed(_ server: TestServer) async throws {
        #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["seed.txt": "seed"])).status == 200)
    }

    // MARK: - Row 1: recover arithmetic

    @Test func recoverWithExtremeSequencesIsAnsweredNotACrash() async throws {
        try await withTemporaryDirectory("recover") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.seed(server)
                for (from, to) in [
                    ("1", "-9223372036854775808"), ("9223372036854775807", "-9223372036854775808"),
                    ("-9223372036854775808", "9223372036854775807"), ("-5", "null"),
                ] {
                    let reply = try await HTTP.post(
                        server.baseURL + "/api/v1/delta/recover",
                        json: "{\"workspace\":\"ws\",\"from_sequence\":\(from),\"to_sequence\":\(to)}")
                    #expect(reply.status == 200, "from \(from) to \(to)")
                }
                let huge = try await HTTP.post(
                    server.baseURL + "/api/v1/delta/recover",
                    json: "{\"workspace\":\"ws\",\"from_sequence\":1e400,\"to_sequence\":1}")
                #expect(huge.status == 400)
                try await Self.expectHealthy(server)
            }
        }
    }

    // MARK: - Row 2: PAX length overflow

    @Test func paxRecordWithHugeLengthIsInvalidTar() async throws {
        try await withTemporaryDirectory("pax") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.seed(server)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                for record in ["12 path=abc\n9223372036854775807 x=y\n", "99999999999999999999 x=y\n", "3 x\n"] {
                    var bundle = TestBundle()
                    bundle.add("pax", Array(record.utf8), type: "x")
                    bundle.add("manifest.json", "{}")
                    let reply = try await ServerTest.upload(server, try bundle.gzip())
                    #expect(reply.status == 400)
                    #expect(reply.errorCode == "INVALID_TAR")
                }
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                try await Self.expectHealthy(server)
            }
        }
    }

    // MARK: - Row 3: combining marks and bidi controls

    @Test(arguments: ["x/\u{301}b", "\u{301}top", "a/\u{200D}z", "evil\u{202E}txt.exe", "iso\u{2066}late"])
    func deceptiveNamesAreRefusedAndRestartIsClean(path: String) async throws {
        try await withTemporaryDirectory("marks") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.seed(server)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let reply = try await ServerTest.upload(server, TestBundle.simple(files: [path: "x"]))
                #expect(reply.status == 400)
                #expect(reply.errorCode == "INVALID_PATH")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
            }
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.expectHealthy(server)
            }
        }
    }

    @Test func pathRulesAreSharedAndByteWise() {
        #expect(PathRules.violation(in: Array("x/\u{301}b".utf8)) != nil)
        #expect(PathRules.violation(in: Array("caf\u{e9}/e\u{301}".utf8)) == nil)
        #expect(PathRules.parents(of: "x/\u{301}b/c") == ["x", "x/\u{301}b"])
        #expect(PathRules.split("x/\u{301}b") == ("x", "\u{301}b"))
        #expect(PathRules.isAncestor("a/\u{e9}", of: "a/\u{e9}/f"))
        #expect(!PathRules.isAncestor("a/e\u{301}", of: "a/\u{e9}/f"))
        #expect(PathKey("\u{e9}") != PathKey("e\u{301}"))
        #expect(Set([PathKey("\u{e9}"), PathKey("e\u{301}")]).count == 2)
    }

    // MARK: - Row 4: descriptors bounded by depth

    @Test func manyDirectoriesAndDeepPathsMaterialise() async throws {
        try await withTemporaryDirectory("fds") { directory in
            let deep = String(repeating: "d/", count: 1100) + "leaf"
            var tree: [String: String] = ["\(deep)": "deep"]
            for index in 0..<1100 { tree["dir\(index)/f"] = "\(index)" }
            let files = tree
            try await TestServer.with(workDirectory: directory.path) { server in
                let reply = try await ServerTest.upload(server, TestBundle.simple(files: files))
                #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
                try await Self.expectHealthy(server)
                // Deleting the deep file prunes all 1,100 directories again.
                let delete = try await ServerTest.upload(server, TestBundle.simple(deletes: [deep]))
                #expect(delete.status == 200)
                #expect(!FileSystem.exists(directory.path + "/workspaces/ws/d"))
            }
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.expectHealthy(server)
            }
        }
    }

    @Test func walkerHoldsDescriptorsBoundedByDepth() throws {
        try withTemporaryDirectorySync("walker") { directory in
            var walker = try DirectoryWalker(root: directory)
            defer { walker.closeAll() }
            var most = 0
            for index in 0..<200 {
                _ = try walker.open("top\(index)/sub", create: true)
                most = max(most, walker.openDescriptorCount)
            }
            let deep = Array(repeating: "d", count: 1500).joined(separator: "/")
            let fd = try walker.open(deep, create: true)
            most = max(most, walker.openDescriptorCount)
            #expect(most <= DirectoryWalker.maxOpenDepth + 2)
            let file = openat(fd, "f", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
            #expect(file >= 0)
            close(file)
            _ = try walker.open("top0", create: false)
            // Removing the file climbs back through 1,500 directories and prunes every one.
            try walker.remove(deep + "/f")
            #expect(!FileSystem.exists(directory + "/d"))
            #expect(FileSystem.exists(directory + "/top0/sub"))
        }
    }

    // MARK: - Row 5: deep JSON

    @Test func deeplyNestedJSONIsRefusedInLinearTime() async throws {
        try await withTemporaryDirectory("json") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.seed(server)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let nested = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
                let operations = (0..<20).map {
                    "{\"operation\":\"deleted\",\"path\":\"p\($0)\",\"size_bytes\":\(nested)}"
                }
                var bundle = TestBundle()
                bundle.addManifest(bundleID: "deep")
                bundle.add("metadata/operations.json", "{\"operations\":[\(operations.joined(separator: ","))]}")
                let reply = try await ServerTest.upload(server, try bundle.gzip())
                #expect(reply.status == 400)
                #expect(reply.errorCode == "INVALID_OPERATION")
                #expect(String(decoding: reply.body, as: UTF8.self).contains("nesting deeper than 32"))
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
            }
        }
    }

    // MARK: - Row 6: NFC/NFD twins are two paths everywhere

    @Test func canonicallyEquivalentNamesStayDistinct() async throws {
        try await withTemporaryDirectory("twins") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                // Create the NFC name and delete the NFD one: the delete is of a missing path.
                var bundle = TestBundle()
                bundle.add("files/created/k\u{e9}", "nfc")
                bundle.addOperations([
                    BundleOperation(operation: .created, path: "k\u{e9}", contentHash: TestBundle.sha256("nfc")),
                    BundleOperation(operation: .deleted, path: "ke\u{301}"),
                ])
                bundle.addManifest(bundleID: "twins-1")
                let first = try await ServerTest.upload(server, try bundle.gzip())
                #expect(first.status == 200)
                let counts = try first.decode(UploadResponse.self).processedOperations
                #expect(counts.created == 1 && counts.deleted == 0 && counts.skipped == 1)
                try await Self.expectHealthy(server)

                // A file and a directory of the same bytes: a conflict, whatever the other form does.
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["c3/\u{e9}": "f"])).status == 200)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let conflict = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["c3/e\u{301}/a": "a", "c3/\u{e9}/b": "b"]))
                #expect(conflict.status == 409)
                #expect(conflict.errorCode == "PATH_CONFLICT")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)

                // The NFD directory beside the NFC file is a different path and is fine.
                let beside = try await ServerTest.upload(server, TestBundle.simple(files: ["c3/e\u{301}/a": "a"]))
                #expect(beside.status == 200)
                try await Self.expectHealthy(server)
                let paths = try await ServerTest.manifestTree(server, workspace: "ws").tree.keys.map(PathKey.init)
                #expect(
                    Set(paths).isSuperset(of: [PathKey("k\u{e9}"), PathKey("c3/\u{e9}"), PathKey("c3/e\u{301}/a")]))
            }
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.expectHealthy(server)
            }
        }
    }

    // MARK: - Row 7: operations count against the entry cap

    @Test func operationsCountAgainstTheEntryLimit() async throws {
        try await withTemporaryDirectory("ops") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: { $0.limits.maxEntries = 100 }) {
                server in
                try await Self.seed(server)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let reply = try await ServerTest.upload(server, try Self.movesOfHeldContent(150, id: "moves"))
                #expect(reply.status == 413)
                #expect(reply.errorCode == "TOO_MANY_ENTRIES")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)

                // Under the cap, moves of held content with missing sources are created (DESIGN §7).
                let small = try Self.movesOfHeldContent(90, id: "moves-ok")
                #expect(try await ServerTest.upload(server, small).status == 200)
                try await Self.expectHealthy(server)
            }
        }
    }

    /// `count` moves with no content and missing sources, each naming the seed file's hash.
    static func movesOfHeldContent(_ count: Int, id: String) throws -> [UInt8] {
        var bundle = TestBundle()
        bundle.addManifest(bundleID: id)
        bundle.addOperations(
            (0..<count).map {
                BundleOperation(
                    operation: .moved, path: "copy\($0)", sourcePath: "missing\($0)",
                    contentHash: TestBundle.sha256("seed"))
            })
        return try bundle.gzip()
    }

    // MARK: - Rows 8 and 11: authenticate before the body

    @Test func unauthenticatedUploadsCostOnlyTheCappedFields() async throws {
        try await withTemporaryDirectory("auth-body") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let authority = TokenAuthority(storage: server.prepared.storage, loopback: true)
                _ = try await authority.create(workspace: "*", scope: .write, label: nil)

                // 1,500 fields of 64 KiB and no token: refused after the field cap, not buffered.
                let field = String(repeating: "v", count: 64 * 1024 - 10)
                let many = (0..<1500).map { ("f\($0)", field) }
                // The client may see the 400, or (still sending 96 MB) a connection the server
                // closed after its bounded linger; either way the server read little of it.
                if let fields = try? await HTTP.upload(
                    server.baseURL, bundle: TestBundle.simple(files: ["a": "a"]), fields: many)
                {
                    #expect(fields.status == 400)
                }
                #expect(server.counters.uploadBytesRead < 16 << 20)

                // No token and a 4 MiB bundle: 401 as the bundle part begins, before it is spooled.
                let readBefore = server.counters.uploadBytesRead
                // AsyncHTTPClient, still sending when the early 401 arrives, may report the close
                // instead; the raw client below shows that a client that writes first reads it.
                if let noToken = try? await ServerTest.upload(server, [UInt8](repeating: 7, count: 4 << 20)) {
                    #expect(noToken.status == 401)
                }
                #expect(server.counters.uploadBytesRead - readBefore < 1 << 20)

                // A bad bearer token: 401 before the handler, and the 200 MB body is never drained.
                let discardedBefore = server.counters.uploadBytesDiscarded
                let connection = try RawHTTPConnection(port: server.port)
                await connection.write(
                    "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
                        + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 200000000\r\n\r\n")
                let chunk = [UInt8](repeating: 0x61, count: 1 << 20)
                var sent = 0
                while sent < 200, await connection.write(chunk) { sent += 1 }
                #expect(sent < 200)
                #expect(server.counters.uploadBytesDiscarded - discardedBefore <= (64 << 20) + (4 << 20))
                #expect(server.counters.uploadBytesRead - readBefore < 1 << 20)

                // A client that writes a whole small body first still reads the 401.
                let small = try RawHTTPConnection(port: server.port)
                let body = [UInt8](repeating: 0x61, count: 2 << 20)
                await small.write(
                    "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
                        + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: \(body.count)\r\n\r\n")
                #expect(await small.write(body))
                let response = await small.readToEnd()
                #expect(response.hasPrefix("HTTP/1.1 401"))
                #expect(response.contains("UNAUTHORIZED"))
                #expect(try await HTTP.get(server.baseURL + "/health").status == 200)
            }
        }
    }

    // MARK: - Row 9: concurrent uploads and the spool quota

    @Test func uploadsBeyondTheCapGet503AndLowDiskGets507() async throws {
        try await withTemporaryDirectory("gate") { directory in
            let parked = ParkingLot()
            try await TestServer.with(
                workDirectory: directory.path,
                configure: {
                    $0.maxConcurrentUploads = 1
                    $0.failpoints = Failpoints { point, workspace in
                        if point == .afterReceive && workspace == "slow" { await parked.park() }
                    }
                }
            ) { server in
                async let slow = ServerTest.upload(server, TestBundle.simple(files: ["a": "a"]), workspace: "slow")
                await parked.waitUntilParked()
                let busy = try await ServerTest.upload(server, TestBundle.simple(files: ["b": "b"]), workspace: "ws")
                #expect(busy.status == 503)
                #expect(busy.errorCode == "SERVER_BUSY")
                #expect(busy.headers.contains { $0.0.lowercased() == "retry-after" })
                await parked.release()
                #expect(try await slow.status == 200)
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["b": "b"])).status == 200)
            }
            try await TestServer.with(workDirectory: directory.path, configure: { $0.minFreeBytes = Int64.max / 2 }) {
                server in
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let full = try await ServerTest.upload(server, TestBundle.simple(files: ["c": "c"]))
                #expect(full.status == 507)
                #expect(full.errorCode == "INSUFFICIENT_STORAGE")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tmp").isEmpty)
            }
        }
    }

    // MARK: - Row 10: malformed requests are 4xx without internal text

    @Test func malformedRequestsAreClientErrors() async throws {
        try await withTemporaryDirectory("malformed") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let connection = try RawHTTPConnection(port: server.port)
                await connection.write(
                    "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        + "Content-Type: multipart/form-data; boundary=b\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
                let reply = await connection.readToEnd()
                #expect(reply.hasPrefix("HTTP/1.1 400"))
                #expect(!reply.contains("internal"))

                let big = try await HTTP.post(
                    server.baseURL + "/api/v1/delta/recover", json: String(repeating: " ", count: 2 << 20) + "{}")
                #expect(big.status == 413)
                #expect(!String(decoding: big.body, as: UTF8.self).contains("NIOTooManyBytesError"))
                try await Self.expectHealthy(server)
            }
        }
    }

    /// A part's header name with a byte outside US-ASCII: MultipartKit's parser looked the byte
    /// up in a table of 128 entries and trapped, taking the server down with the request.
    @Test func aPartHeaderNameOutsideASCIIIsRefusedNotACrash() async throws {
        try await withTemporaryDirectory("header-name") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.seed(server)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let fields = "--b\r\nContent-Disposition: form-data; name=\"workspace\"\r\n\r\nws\r\n--b\r\n"
                for name: [UInt8] in [[0xC3, 0xA9], [0x80], [0x41, 0xFF]] {
                    let body = Array(fields.utf8) + name + Array(": x\r\n\r\nhello\r\n--b--\r\n".utf8)
                    let connection = try RawHTTPConnection(port: server.port)
                    let head =
                        "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: \(body.count)\r\n\r\n"
                    await connection.write(Array(head.utf8) + body)
                    let reply = await connection.readToEnd()
                    #expect(reply.hasPrefix("HTTP/1.1 400"), "\(name)")
                    #expect(reply.contains("malformed multipart body"), "\(name)")
                }
                try await Self.expectHealthy(server)
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tmp").isEmpty)
            }
        }
    }

    // MARK: - Rows 12 and 13: what /health and /metrics reveal

    @Test func healthDetailsAndMetricsNeedAGlobalAdmin() async throws {
        try await withTemporaryDirectory("reveal") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let authority = TokenAuthority(storage: server.prepared.storage, loopback: true)
                let admin = try await authority.create(workspace: "*", scope: .admin, label: nil)
                let scoped = try await authority.create(workspace: "ws", scope: .admin, label: nil)

                let anonymous = try await HTTP.get(server.baseURL + "/health")
                #expect(anonymous.status == 200)
                #expect(Set(anonymous.json.keys) == ["status", "version", "timestamp"])
                #expect(!String(decoding: anonymous.body, as: UTF8.self).contains(directory.path))

                let detailed = try await HTTP.get(
                    server.baseURL + "/health", headers: [("Authorization", "Bearer \(admin)")])
                #expect(detailed.json["storage"] != nil)

                let metrics = try await HTTP.get(
                    server.baseURL + "/metrics", headers: [("Authorization", "Bearer \(scoped)")])
                #expect(metrics.status == 403)
                #expect(String(decoding: metrics.body, as: UTF8.self).contains("admin token for '*'"))
                let allowed = try await HTTP.get(
                    server.baseURL + "/metrics", headers: [("Authorization", "Bearer \(admin)")])
                #expect(allowed.status == 200)
            }
        }
    }

    // MARK: - Row 14: WORK_DIR is private whatever the umask

    @Test func workDirectoryIsPrivate() async throws {
        try await withTemporaryDirectory("umask") { directory in
            let work = directory.path + "/work"
            try await TestServer.with(workDirectory: work) { server in
                try await Self.seed(server)
            }
            #expect(try Self.mode(work) == 0o700)
            #expect(try Self.mode(work + "/deltasync.sqlite") == 0o600)
            let blobs = try FileManager.default.subpathsOfDirectory(atPath: work + "/blobs")
                .filter { $0.count > 3 }
            #expect(!blobs.isEmpty)
            // A blob stored for a file shares its inode (and so its 0644 or 0755) with the
            // materialised copy inside the private WORK_DIR; any other blob is 0600. None is
            // writable by anyone but the owner.
            let copies = try FileManager.default.subpathsOfDirectory(atPath: work + "/workspaces")
            for blob in blobs {
                let mode = try Self.mode(work + "/blobs/" + blob)
                #expect(mode == 0o600 || mode == 0o644 || mode == 0o755, "\(blob): \(String(mode, radix: 8))")
                #expect(mode & 0o022 == 0)
            }
            #expect(try blobs.contains { try Self.mode(work + "/blobs/" + $0) == 0o600 }, "the bundle's blob")
            #expect(!copies.isEmpty)
        }
    }

    /// The lock is taken before start-up clears leftovers or repairs copies, so a second server
    /// on a live `WORK_DIR` stops before touching anything.
    @Test func aSecondServerOnTheSameWorkDirectoryStopsBeforeStartUpWork() async throws {
        try await withTemporaryDirectory("second") { directory in
            let work = directory.path + "/work"
            try await TestServer.with(workDirectory: work) { server in
                try await Self.seed(server)
                let leftover = work + "/tmp/in-flight-upload"
                try FileSystem.writeAtomically(leftover, [1, 2, 3])
                var logger = Logger(label: "test")
                logger.logLevel = .critical
                let configuration = ServerConfiguration(host: "127.0.0.1", port: 0, workDirectory: work)
                await #expect(throws: DeltaError.self) {
                    _ = try await DeltaServer.prepare(configuration: configuration, logger: logger)
                }
                #expect(FileSystem.exists(leftover), "the running server's spool was left alone")
                #expect(try await HTTP.get(server.baseURL + "/health").status == 200)
            }
        }
    }

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
    }
}

/// Parks one upload at a failpoint until the test releases it.
actor ParkingLot {
    private var parked: CheckedContinuation<Void, Never>?
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var released = false

    func park() async {
        guard !released else { return }
        await withCheckedContinuation { continuation in
            parked = continuation
            for waiter in waiters { waiter.resume() }
            waiters.removeAll()
        }
    }

    func waitUntilParked() async {
        if parked != nil { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        released = true
        parked?.resume()
        parked = nil
    }
}

/// The regular files below a directory, as byte-keyed paths.
enum DiskTree {
    static func files(_ root: String) throws -> Set<PathKey> {
        Set(try DiskListing.regularFiles(root).map(PathKey.init))
    }
}

func withTemporaryDirectorySync(_ label: String, _ body: (String) throws -> Void) throws {
    let path = NSTemporaryDirectory() + "deltasync-\(label)-" + UUID().uuidString
    try FileSystem.createDirectory(path)
    defer { FileSystem.removeTree(path) }
    try body(path)
}
