import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// "kill -9 at any point": the real binary `_exit`s at each named failpoint of the upload path;
/// the restarted server must serve either the old or the new state, in the database and on disk,
/// never a mix — and a retry of the same bundle must converge.
@Suite(.serialized) struct CrashRecoveryTests {
    static let first: [String: String] = [
        "keep.txt": "keep", "edit.txt": "v1", "dir/remove.txt": "bye", "old/name.txt": "moving",
    ]

    static func expectConsistent(
        _ server: ServerProcess, work: String, sequence: Int64, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: String] {
        let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace=ws").decode(
            ManifestResponse.self)
        #expect(manifest.sequence == sequence, sourceLocation: sourceLocation)
        let tree = Dictionary(uniqueKeysWithValues: manifest.files.map { ($0.path, $0.contentHash.hex) })
        #expect(
            try ServerTest.materialised(work, workspace: "ws") == tree, "materialised copy differs from the database",
            sourceLocation: sourceLocation)
        return tree
    }

    /// Both formats: a compressed bundle is spooled and then read; an uncompressed one is read
    /// as it arrives and kept as a recipe.
    @Test(arguments: Failpoints.uploadPathPoints, [BundleFormat.tarGz, .tar])
    func crashAtFailpointLeavesOldOrNewState(_ point: Failpoints.Point, _ format: BundleFormat) async throws {
        try await withTemporaryDirectory("crash") { directory in
            let work = directory.sub("work")
            let firstBundle = try TestBundle.simple(bundleID: "first", files: Self.first)
            var secondBundle = try TestBundle.simple(
                bundleID: "second", files: ["new/file.txt": "new"], updates: ["edit.txt": "v2"],
                deletes: ["dir/remove.txt"],
                moves: [(from: "old/name.txt", to: "renamed/name.txt")]
            )
            if format == .tar { secondBundle = try Gzip.decompress(secondBundle) }
            var oldTree: [String: String] = [:]
            do {
                let server = try await ServerProcess.start(workDirectory: work)
                let reply = try await HTTP.upload(server.baseURL, bundle: firstBundle, fields: [("workspace", "ws")])
                #expect(reply.status == 200)
                oldTree = try await Self.expectConsistent(server, work: work, sequence: 1)
                await server.shutDown()
            }
            do {
                let crashing = try await ServerProcess.start(
                    workDirectory: work, environment: ["DELTASYNC_FAILPOINT": point.rawValue])
                let reply = try? await HTTP.upload(
                    crashing.baseURL, bundle: secondBundle, fields: [("workspace", "ws")])
                #expect(reply == nil || reply?.status != 200, "the upload must not succeed past a failpoint")
                #expect(await crashing.waitForExit() == 137)
            }
            let restarted = try await ServerProcess.start(workDirectory: work)
            defer { restarted.stop() }
            let committed = point == .afterCommit || point == .afterMaterialise
            let tree = try await Self.expectConsistent(restarted, work: work, sequence: committed ? 2 : 1)
            if !committed { #expect(tree == oldTree) }
            // The client retries the same bundle: applied once, whichever side of the commit it died on.
            let retry = try await HTTP.upload(restarted.baseURL, bundle: secondBundle, fields: [("workspace", "ws")])
            #expect(retry.status == 200)
            #expect(retry.json["duplicate"] == .bool(committed))
            #expect(retry.json["sequence_number"]?.intValue == 2)
            let final = try await Self.expectConsistent(restarted, work: work, sequence: 2)
            #expect(Set(final.keys) == ["keep.txt", "edit.txt", "new/file.txt", "renamed/name.txt"])
            #expect(
                !FileManager.default.fileExists(atPath: work + "/workspaces/ws/dir"), "empty directories are pruned")
            #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/tmp").isEmpty)
            // The bundle is served back as it was sent, whichever way it was kept.
            let stored = try await HTTP.get(restarted.baseURL + "/api/v1/delta/bundles/2?workspace=ws")
            #expect(stored.body == secondBundle)
        }
    }

    @Test func restartKeepsSequenceAndFilesAndRepairsTheCopy() async throws {
        try await withTemporaryDirectory("restart") { directory in
            let work = directory.sub("work")
            do {
                let server = try await ServerProcess.start(workDirectory: work)
                #expect(
                    try await HTTP.upload(
                        server.baseURL, bundle: TestBundle.simple(files: Self.first), fields: [("workspace", "ws")]
                    ).status == 200)
                await server.shutDown()
            }
            // Someone damages the materialised copy while the server is down.
            try FileManager.default.removeItem(atPath: work + "/workspaces/ws")
            let server = try await ServerProcess.start(workDirectory: work)
            defer { server.stop() }
            let tree = try await Self.expectConsistent(server, work: work, sequence: 1)
            #expect(tree.count == Self.first.count)
            let next = try await HTTP.upload(
                server.baseURL, bundle: TestBundle.simple(files: ["more.txt": "m"]), fields: [("workspace", "ws")])
            #expect(next.json["sequence_number"]?.intValue == 2)
        }
    }
}

/// A stop must not wait on a client: SIGTERM lets in-flight requests finish for
/// `--shutdown-grace-secs`, then cuts them off and exits.
@Suite struct ShutdownTests {
    /// An upload of `bundle` to workspace `ws` as raw HTTP: the request head and the multipart body.
    static func upload(_ bundle: [UInt8], expectContinue: Bool) -> (head: String, body: [UInt8]) {
        var body = Array("--b\r\nContent-Disposition: form-data; name=\"workspace\"\r\n\r\nws\r\n".utf8)
        body += Array("--b\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.tar.gz\"\r\n\r\n".utf8)
        body += bundle + Array("\r\n--b--\r\n".utf8)
        let head =
            "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + (expectContinue ? "Expect: 100-continue\r\n" : "") + "Content-Length: \(body.count)\r\n\r\n"
        return (head, body)
    }

    @Test func aStalledUploadIsCutOffAfterTheGraceAndNothingOfItIsKept() async throws {
        try await withTemporaryDirectory("shutdown") { directory in
            let work = directory.sub("work")
            // The upload deadline (an hour) would otherwise hold the stop for an hour.
            let server = try await ServerProcess.start(
                workDirectory: work, arguments: ["--shutdown-grace-secs", "1", "--upload-timeout", "3600"])
            let first = try await HTTP.upload(
                server.baseURL, bundle: TestBundle.simple(files: ["kept.txt": "kept"]), fields: [("workspace", "ws")])
            #expect(first.status == 200)
            let (head, body) = Self.upload(try TestBundle.simple(files: ["lost.txt": "lost"]), expectContinue: true)
            let connection = try RawHTTPConnection(port: server.port)
            #expect(await connection.write(head))
            // The interim reply: the upload handler is running, so the request is in flight.
            #expect(await connection.readSome().hasPrefix("HTTP/1.1 100 Continue"))
            #expect(await connection.write(Array(body.dropLast(8))))
            server.process.terminate()
            // Without the grace the server would wait for the rest of the body; a server still
            // there after two minutes is killed (137), which fails here.
            #expect(await server.waitForExit(seconds: 120) == 0)
            let restarted = try await ServerProcess.start(workDirectory: work)
            defer { restarted.stop() }
            let tree = try await CrashRecoveryTests.expectConsistent(restarted, work: work, sequence: 1)
            #expect(Set(tree.keys) == ["kept.txt"])
        }
    }

    @Test func workThatIgnoresCancellationDoesNotKeepTheServerFromExiting() async throws {
        try await withTemporaryDirectory("shutdown-stuck") { directory in
            let work = directory.sub("work")
            // The validating thread stops for good: cancelling its request cannot end it.
            let server = try await ServerProcess.start(
                workDirectory: work, arguments: ["--shutdown-grace-secs", "1"],
                environment: ["DELTASYNC_FAILPOINT": "hang:during-validate"])
            let bundle = try TestBundle.simple(files: ["stuck.txt": "never committed"])
            let (head, body) = Self.upload(bundle, expectContinue: false)
            let connection = try RawHTTPConnection(port: server.port)
            #expect(await connection.write(head))
            #expect(await connection.write(body))
            // In flight once the server has read the whole body (it validates what it read).
            var read = 0.0
            for _ in 0..<2000 where read < Double(bundle.count) {
                try await Task.sleep(for: .milliseconds(10))
                let metrics = String(decoding: try await HTTP.get(server.baseURL + "/metrics").body, as: UTF8.self)
                read =
                    metrics.split(separator: "\n").first { $0.hasPrefix("deltasync_upload_bytes_read_total") }
                    .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            }
            #expect(read >= Double(bundle.count))
            server.process.terminate()
            // Grace (1 s), cancellation, then the server's own deadline (10 s): exit 0. Hanging
            // (killed after two minutes, 137) or the lifecycle's fatal error (SIGILL) fails here.
            #expect(await server.waitForExit(seconds: 120) == 0)
            #expect(server.process.terminationReason == .exit)
            let restarted = try await ServerProcess.start(workDirectory: work)
            defer { restarted.stop() }
            let status = try await HTTP.get(restarted.baseURL + "/api/v1/delta/status?workspace=ws").decode(
                StatusResponse.self)
            #expect(status.lastSequence == 0, "nothing of the stuck upload was committed")
        }
    }
}
