import DeltaCore
@testable import DeltaServer
import DeltaTestSupport
import Foundation
import GRDB
import Logging
import Testing

@Suite struct AuthTests {
    static func token(_ work: String, workspace: String, scope: String) async throws -> String {
        let result = try await ServerProcess.run([
            "token", "create", "--work-dir", work, "--workspace", workspace, "--scope", scope,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func loopbackServerIsOpenUntilATokenExists() async throws {
        try await withTemporaryDirectory("auth") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let bundle = try TestBundle.simple(files: ["a": "a"])
                #expect(try await ServerTest.upload(server, bundle).status == 200)  // open: local development

                let writer = try await Self.token(directory.path, workspace: "ws", scope: "write")
                let reader = try await Self.token(directory.path, workspace: "*", scope: "read")
                let admin = try await Self.token(directory.path, workspace: "*", scope: "admin")
                let otherWriter = try await Self.token(directory.path, workspace: "other", scope: "write")
                #expect(writer.hasPrefix("dsk_") && writer.count == 68)

                let unauthenticatedRead = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
                #expect(unauthenticatedRead.status == 401)  // a token now exists: reads need one too
                let anonymous = try await ServerTest.upload(server, TestBundle.simple(files: ["b": "b"]))
                #expect(anonymous.status == 401)
                #expect(anonymous.errorCode == "UNAUTHORIZED")
                let wrong = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["b": "b"]), headers: [("Authorization", "Bearer dsk_nope")])
                #expect(wrong.status == 401)
                let readOnly = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["b": "b"]), headers: [("Authorization", "Bearer \(reader)")])
                #expect(readOnly.status == 403)
                let elsewhere = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["b": "b"]), headers: [("Authorization", "Bearer \(otherWriter)")])
                #expect(elsewhere.status == 403)
                #expect(elsewhere.errorCode == "FORBIDDEN")

                let status = try await HTTP.get(
                    server.baseURL + "/api/v1/delta/status?workspace=ws",
                    headers: [("Authorization", "Bearer \(reader)")])
                #expect(status.json["last_sequence"]?.intValue == 1)  // refused uploads changed nothing

                let allowed = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["b": "b"]), headers: [("Authorization", "Bearer \(writer)")])
                #expect(allowed.status == 200)
                // Existing clients send the token as the `session` form field.
                let session = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["c": "c"]), extra: [("session", writer)])
                #expect(session.status == 200)

                #expect(try await HTTP.get(server.baseURL + "/health").status == 200)
                #expect(
                    try await HTTP.get(server.baseURL + "/metrics", headers: [("Authorization", "Bearer \(writer)")])
                        .status == 403)
                #expect(
                    try await HTTP.get(server.baseURL + "/metrics", headers: [("Authorization", "Bearer \(admin)")])
                        .status == 200)
            }
        }
    }

    /// `token revoke` (by id or by secret) takes effect on the running server at once, for the
    /// bearer header and the session cookie alike; a revoked token is listed, never printed, and
    /// revoking the last one leaves auth on. Refused uploads change nothing.
    @Test func aRevokedTokenIsRefusedAtOnce() async throws {
        try await withTemporaryDirectory("revoke") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let writer = try await Self.token(directory.path, workspace: "ws", scope: "write")
                let bearer = [("Authorization", "Bearer \(writer)")]
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["a": "a"]), headers: bearer).status
                        == 200)
                let session = try await HTTP.post(server.baseURL + "/api/v1/session", json: "{\"token\":\"\(writer)\"}")
                let cookie = String(
                    try #require(session.headers.first { $0.0.lowercased() == "set-cookie" }?.1).split(separator: ";")[
                        0])

                let list = try await ServerProcess.run(["token", "list", "--work-dir", directory.path, "--json"])
                #expect(list.status == 0, "\(list.stderr)")
                #expect(!list.stdout.contains(writer))
                let listed = try JSONDecoder().decode([String: [[String: String?]]].self, from: Data(list.stdout.utf8))
                let row = try #require(listed["tokens"]?.first)
                #expect(row["workspace"] == "ws" && row["scope"] == "write" && row["revoked_at"] == .some(nil))
                let id = try #require(row["id"] ?? nil)

                let revoked = try await ServerProcess.run(["token", "revoke", id, "--work-dir", directory.path])
                #expect(revoked.status == 0, "\(revoked.stderr)")
                #expect(revoked.stdout.contains("revoked \(id)"))

                let refused = try await ServerTest.upload(server, TestBundle.simple(files: ["b": "b"]), headers: bearer)
                #expect(refused.status == 401)
                #expect(String(decoding: refused.body, as: UTF8.self).contains("revoked"))
                #expect(
                    try await HTTP.get(server.baseURL + "/api/v1/workspaces", headers: [("Cookie", cookie)]).status
                        == 401)
                // The only token is revoked, yet the loopback server stays closed.
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["b": "b"])).status == 401)

                let again = try await ServerProcess.run(["token", "revoke", writer, "--work-dir", directory.path])
                #expect(again.status != 0 && again.stderr.contains("already revoked"))
                let unknown = try await ServerProcess.run([
                    "token", "revoke", "no-such-id", "--work-dir", directory.path,
                ])
                #expect(unknown.status != 0 && unknown.stderr.contains("token list"))
                let text = try await ServerProcess.run(["token", "list", "--work-dir", directory.path])
                #expect(text.stdout.contains(id) && text.stdout.contains("revoked "))

                let reader = try await Self.token(directory.path, workspace: "ws", scope: "read")
                let status = try await HTTP.get(
                    server.baseURL + "/api/v1/delta/status?workspace=ws",
                    headers: [("Authorization", "Bearer \(reader)")])
                #expect(status.json["last_sequence"]?.intValue == 1)  // the refused uploads changed nothing
                #expect(status.json["file_count"]?.intValue == 1)
            }
        }
    }

    @Test func tokensAreStoredHashed() async throws {
        try await withTemporaryDirectory("hashed") { directory in
            let secret = try await Self.token(directory.path, workspace: "*", scope: "admin")
            let database =
                try FileSystem.readAll(directory.path + "/deltasync.sqlite")
                + ((try? FileSystem.readAll(directory.path + "/deltasync.sqlite-wal")) ?? [])
            #expect(!String(decoding: database, as: UTF8.self).contains(secret))
            let bad = try await ServerProcess.run([
                "token", "create", "--work-dir", directory.path, "--workspace", "ws", "--scope", "root",
            ])
            #expect(bad.status != 0)
        }
    }

    @Test func refusesNonLoopbackWithoutTokens() async throws {
        try await withTemporaryDirectory("offloop") { directory in
            var configuration = ServerConfiguration(host: "0.0.0.0", port: 0, workDirectory: directory.path)
            configuration.insecureNoAuth = false
            await #expect(throws: DeltaError.self) {
                _ = try await DeltaServer.prepare(configuration: configuration, logger: Logger(label: "test"))
            }
            #expect(!ServerConfiguration.isLoopback("0.0.0.0"))
            #expect(ServerConfiguration.isLoopback("127.0.0.2"))
            #expect(ServerConfiguration.isLoopback("::1"))
        }
    }

    @Test func servesHTTPSWithTheGivenCertificate() async throws {
        try await withTemporaryDirectory("tls") { directory in
            let key = directory.sub("key.pem")
            let cert = directory.sub("cert.pem")
            let openssl = try ChildProcess(
                executable: "/usr/bin/openssl",
                arguments: [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1",
                ],
                standardError: .null)
            openssl.waitUntilExit()
            try #require(openssl.terminationStatus == 0)
            let server = try await ServerProcess.start(
                workDirectory: directory.sub("work"), arguments: ["--tls-cert", cert, "--tls-key", key])
            defer { server.stop() }
            let curl = try TLSProbe.fetch("https://127.0.0.1:\(server.port)/health", cacert: cert)
            #expect(curl.contains("\"status\":\"healthy\""))
        }
    }
}

/// Fetches over HTTPS with curl, trusting only the test's certificate.
enum TLSProbe {
    static func fetch(_ url: String, cacert: String) throws -> String {
        String(decoding: try ChildProcess.run("/usr/bin/curl", ["-sS", "--cacert", cacert, url]).stdout, as: UTF8.self)
    }
}

@Suite struct StorageOpenTests {
    /// `serve` and `token create` may open a new database at the same moment.
    @Test func concurrentOpenersOfANewDatabaseAllSucceed() async throws {
        try await withTemporaryDirectory("db") { directory in
            let path = directory.sub("deltasync.sqlite")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try SQLiteStorage(path: path) }
                }
                try await group.waitForAll()
            }
            #expect(try await SQLiteStorage(path: path).tokenCount() == 0)
        }
    }

    /// A success reply promises the commit survives a power loss: the connection that writes
    /// syncs the log at every commit (`FULL`, 2), not only at checkpoints (`NORMAL`, 1, which
    /// opening a pool in WAL mode sets).
    @Test func theWriterSyncsEveryCommit() async throws {
        try await withTemporaryDirectory("db-sync") { directory in
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            let level = try storage.pool.writeWithoutTransaction { db in
                try Int.fetchOne(db, sql: "PRAGMA synchronous")
            }
            #expect(level == 2)
        }
    }
}
