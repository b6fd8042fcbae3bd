import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaClient

/// Errors a person can act on: one `error:` sentence naming the URL and the likely fix.
@Suite struct ClientErrorMessageTests {
    @Test func noServerRunningNamesTheURLAndTheFix() async throws {
        try await withTemporaryDirectory("no-server") { directory in
            let tree = try WorkspaceTree(root: directory.sub("ws"))
            try tree.write("a.txt", "a")
            let result = try await ServerProcess.run(
                ["push", tree.root, "--server", "http://127.0.0.1:1", "--workspace", "ws"],
                environment: ["REMOTE_UPLOAD_MAX_RETRIES": "1"]
            )
            #expect(result.status != 0)
            let line = result.stderr.split(separator: "\n").last { $0.hasPrefix("error:") } ?? ""
            #expect(line.contains("cannot reach http://127.0.0.1:1 (connection refused)"), "\(result.stderr)")
            #expect(line.contains("is 'deltasync serve' running there"))
            #expect(!line.contains("errno"))
        }
    }

    /// The one `error:` line of a failed command, which must not leak internals.
    static func errorLine(_ result: (status: Int32, stdout: String, stderr: String)) -> String {
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(result.status == 1, "\(result.stderr)")
        #expect(lines.count == 1, "\(result.stderr)")
        let line = String(lines.first ?? "")
        for leaked in ["errno", "NIO", "HTTPClientError", "DeltaError(", "Optional("] {
            #expect(!line.contains(leaked), "\(line)")
        }
        return line
    }

    static func push(_ tree: WorkspaceTree, _ url: String, _ extra: [String] = [], environment: [String: String] = [:])
        async throws -> (status: Int32, stdout: String, stderr: String)
    {
        var environment = environment
        environment["HOME"] = environment["HOME"] ?? tree.root + "/.home"
        environment["REMOTE_UPLOAD_MAX_RETRIES"] = "1"
        return try await ServerProcess.run(["push", tree.root, "--server", url] + extra, environment: environment)
    }

    @Test func badOrMissingTokenNamesTheEndpointAndTheFix() async throws {
        try await withTemporaryDirectory("auth-errors") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let created = try await ServerProcess.run([
                    "token", "create", "--work-dir", directory.sub("server"), "--workspace", "other", "--scope",
                    "write",
                ])
                let otherToken = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")

                let missing = Self.errorLine(try await Self.push(tree, server.baseURL, ["--workspace", "ws"]))
                #expect(missing.contains("\(server.baseURL)/api/v1/delta/status refused the credentials (HTTP 401"))
                #expect(missing.contains("Set DELTASYNC_TOKEN or --token-file"))

                let forbidden = Self.errorLine(
                    try await Self.push(
                        tree, server.baseURL, ["--workspace", "ws"], environment: ["DELTASYNC_TOKEN": otherToken]))
                #expect(forbidden.contains("\(server.baseURL)/api/v1/delta/status does not let this token do that"))
                #expect(forbidden.contains("HTTP 403 FORBIDDEN") && forbidden.contains("scoped to this workspace"))

                let admin = try await ServerProcess.run([
                    "token", "create", "--work-dir", directory.sub("server"), "--workspace", "*", "--scope", "read",
                ])
                let status = try await HTTP.get(
                    server.baseURL + "/api/v1/delta/status?workspace=ws",
                    headers: [
                        ("Authorization", "Bearer \(admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
                    ])
                #expect(status.json["last_sequence"]?.intValue == 0)  // nothing was applied
            }
        }
    }

    @Test func httpsAgainstAPlainServerIsATLSError() async throws {
        try await withTemporaryDirectory("tls-error") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                let url = "https://127.0.0.1:\(server.port)"
                let line = Self.errorLine(try await Self.push(tree, url, ["--workspace", "ws"]))
                #expect(line.contains("cannot reach \(url) (the TLS handshake failed)"), "\(line)")
                #expect(line.contains("check https:// versus http://"))
            }
        }
    }

    @Test func aSecondPushOnTheSameStateIsRefusedClearly() async throws {
        try await withTemporaryDirectory("locked") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try FileSystem.createDirectory(tree.root + "/.deltasync")
                // Held by "another process" for the length of one push (released when it returns).
                func pushWhileHeld() async throws -> String {
                    let held = try SessionLock(directory: tree.root + "/.deltasync")
                    defer { withExtendedLifetime(held) {} }
                    return Self.errorLine(try await Self.push(tree, server.baseURL, ["--workspace", "ws"]))
                }
                let line = try await pushWhileHeld()
                #expect(
                    line.contains(
                        "\(tree.root)/.deltasync is in use by another deltasync push or watch (pid \(getpid()))"))
                #expect(line.contains("wait for it to finish or stop it"))
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
                #expect(status.json["last_sequence"]?.intValue == 0)
                #expect(try await Self.push(tree, server.baseURL, ["--workspace", "ws"]).status == 0)
            }
        }
    }

    /// A 409 no retry can fix (a bundle id the server holds for other content): one clear line,
    /// nothing applied, and the next run reconciles instead of failing forever.
    @Test func anUnrecoverableConflictSaysRunAgainAndTheNextRunConverges() async throws {
        try await withTemporaryDirectory("conflict") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try await PushTest.push(tree, server)
                let log = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws").decode(
                    ChangesResponse.self)
                let takenID = try #require(log.changes.first?.bundleID)
                // An outbox entry reusing that id for other content.
                let state = try ClientState(directory: tree.root + "/.deltasync")
                let file = "conflict.tar.gz"
                let size = try BundleWriter().write(
                    to: state.outboxPath(file), bundleID: takenID, workspacePath: tree.root, sequenceNumber: nil,
                    entries: [
                        BundleWriter.Entry(
                            operation: BundleOperation(
                                operation: .created, path: "other.txt",
                                contentHash: ContentHash(algorithm: .sha256, hex: Self.sha256(Array("x".utf8))),
                                sizeBytes: 1, mode: 0o644),
                            content: .bytes(Array("x".utf8)))
                    ])
                try state.enqueue(bundleID: takenID, file: file, size: size, operations: 1, upserts: [], deletes: [])

                let line = Self.errorLine(try await Self.push(tree, server.baseURL, ["--workspace", "ws"]))
                #expect(line.contains("the server rejected a bundle"), "\(line)")
                #expect(line.contains("HTTP 409 BUNDLE_ID_CONFLICT") && line.contains("Run again to reconcile"))
                #expect(line.contains("\(server.baseURL)/api/v1/delta/upload"))
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
                #expect(status.json["last_sequence"]?.intValue == 1)

                let again = try await Self.push(tree, server.baseURL, ["--workspace", "ws"])
                #expect(again.status == 0, "\(again.stderr)")
                try PushTest.expectInSync(tree, server)
            }
        }
    }

    @Test func anOversizedBundleNamesTheLimitToRaise() async throws {
        try await withTemporaryDirectory("too-large") { directory in
            try await TestServer.with(
                workDirectory: directory.sub("server"), configure: { $0.limits.maxCompressedBytes = 1 << 20 }
            ) { server in
                var random = SystemRandomNumberGenerator()
                let bytes = (0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) }
                let path = directory.sub("big.tar.gz")
                try BundleWriter().write(
                    to: path, bundleID: "big", workspacePath: nil, sequenceNumber: nil,
                    entries: [
                        BundleWriter.Entry(
                            operation: BundleOperation(
                                operation: .created, path: "big.bin",
                                contentHash: ContentHash(algorithm: .sha256, hex: Self.sha256(bytes)),
                                sizeBytes: Int64(bytes.count), mode: 0o644),
                            content: .bytes(bytes))
                    ])
                let api = DeltaAPI(baseURL: server.baseURL, token: nil)
                let error = await #expect(throws: DeltaError.self) {
                    _ = try await api.upload(
                        bundleAt: path, workspace: WorkspaceReference(name: "ws", path: Self.tree(directory)),
                        sequence: nil)
                }
                #expect(error?.httpStatus == 413)
                #expect(
                    error?.message.contains("\(server.baseURL)/api/v1/delta/upload refused a bundle as too large")
                        == true)
                #expect(error?.message.contains("--max-bundle-size-mb") == true)
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
                #expect(status.json["last_sequence"]?.intValue == 0)
            }
        }
    }

    static func tree(_ directory: TemporaryDirectory) -> String { directory.sub("ws") }

    static func sha256(_ bytes: [UInt8]) -> String {
        var hasher = SHA256Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    @Test func localFailuresNameThePathAndTheFix() throws {
        let full = DeltaError.posix("write", "/ws/.deltasync/outbox/b.tar.gz", errno: ENOSPC)
        #expect(full.message.hasPrefix("no space left to write /ws/.deltasync/outbox/b.tar.gz"))
        #expect(full.message.contains("free some space on that filesystem and run again"))
        // What NIO's resolver reports (tests stay on loopback, so no real lookup is made).
        struct ResolverFailure: Error, CustomStringConvertible {
            var description: String {
                "DNS error: SocketAddressError.UnknownHost: Name or service not known (error -2) for host "
                    + "no-such-host, port 8002"
            }
        }
        let dns = DeltaAPI.unreachable("http://no-such-host:8002", ResolverFailure())
        #expect(
            dns == "cannot reach http://no-such-host:8002 (the host name does not resolve): check the host in --server")
    }

    /// The existing upload service's replies: no `success` on status, nulls on upload.
    @Test func compatibleCoreRepliesDecode() throws {
        let status = """
            {"workspace_path":"/work/app","collection_name":"app-1234","last_sequence":3,"last_upload":null,
            "pending_operations":0,"status":"ready","server_info":{"version":"1.0","max_bundle_size_mb":50,
            "supported_formats":["tar.gz"]}}
            """
        let decoded = try JSONDecoder().decode(StatusResponse.self, from: Data(status.utf8))
        #expect(decoded.lastSequence == 3)
        #expect(!decoded.serverInfo.isDeltaSync)
        #expect(decoded.serverInfo.limits.maxCompressedBytes == 50 << 20)
        #expect(decoded.serverInfo.maxEntries == BundleLimits().maxEntries)
        let upload = """
            {"success":true,"bundle_id":"b","sequence_number":1,"processed_operations":null,
            "processing_time_ms":null,"next_sequence":2,"error":null}
            """
        let reply = try JSONDecoder().decode(UploadResponse.self, from: Data(upload.utf8))
        #expect(reply.sequenceNumber == 1 && reply.nextSequence == 2 && !reply.duplicate)
        let onlyNext = try JSONDecoder().decode(
            UploadResponse.self, from: Data("{\"success\":true,\"next_sequence\":5}".utf8))
        #expect(onlyNext.sequenceNumber == 4)
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(UploadResponse.self, from: Data("{\"success\":true}".utf8))
        }
        let mismatch = """
            {"success":false,"error":{"code":"SEQUENCE_MISMATCH","message":"m","expected_sequence":2}}
            """
        let envelope = try JSONDecoder().decode(ErrorEnvelope.self, from: Data(mismatch.utf8))
        #expect(envelope.deltaError.code == .sequenceMismatch)
        #expect(envelope.deltaError.details["expected_sequence"]?.intValue == 2)
    }
}
