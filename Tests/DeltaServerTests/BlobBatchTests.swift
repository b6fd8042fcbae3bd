import AsyncHTTPClient
import DeltaCore
import DeltaTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `POST /api/v1/delta/blobs`: many blobs in one tar stream, only what the workspace holds now.
@Suite struct BlobBatchTests {
    static func batch(_ server: TestServer, _ body: String, workspace: String = "ws", headers: [(String, String)] = [])
        async throws -> HTTPReply
    {
        var request = HTTPClientRequest(url: server.baseURL + "/api/v1/delta/blobs?workspace=\(workspace)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "text/plain")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        return try await HTTP.send(request)
    }

    /// The entries of a tar stream, name → content.
    static func entries(_ tar: [UInt8]) throws -> [(String, [UInt8])] {
        var reader = TarReader()
        var entries: [(String, [UInt8])] = []
        try tar.withUnsafeBytes { bytes in
            try reader.consume(bytes) { event in
                switch event {
                case .begin(let entry): entries.append((String(decoding: entry.name, as: UTF8.self), []))
                case .data(let data): entries[entries.count - 1].1 += Array(data)
                case .end: break
                }
            }
        }
        #expect(reader.isFinished)
        return entries
    }

    @Test func servesHeldBlobsInOrderOnceEach() async throws {
        try await withTemporaryDirectory("blobs") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let big = String(repeating: "0123456789abcdef", count: 200_000)  // 3.2 MB: spans chunks
                let files = ["a": "alpha", "b": "beta", "empty": "", "big": big, "same": "alpha"]
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: files)).status == 200)
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["o": "other"]), workspace: "other")
                        .status == 200)
                let hex = { (text: String) in TestBundle.sha256(text).hex }
                let body = [
                    "sha256:" + hex("beta"), hex(big), hex("alpha"), "", hex("alpha"), hex(""),
                    hex("never stored"), hex("other"),
                ].joined(separator: "\n")
                let reply = try await Self.batch(server, body)
                #expect(reply.status == 200)
                let entries = try Self.entries(reply.body)
                // Unknown content and another workspace's content are left out; duplicates once.
                #expect(entries.map(\.0) == [hex("beta"), hex(big), hex("alpha"), hex("")])
                #expect(entries.map { String(decoding: $0.1, as: UTF8.self) } == ["beta", big, "alpha", ""])
            }
        }
    }

    /// Bad input is a 4xx with its code and changes nothing; the batch needs a read token for
    /// the workspace once auth is on.
    @Test func refusesBadInputAndForeignTokens() async throws {
        try await withTemporaryDirectory("blobs-bad") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["a": "alpha"])).status == 200)
                let bad = try await Self.batch(server, "sha256:xyz")
                #expect(bad.status == 400)
                #expect(bad.errorCode == "INVALID_HASH")
                let sha1 = try await Self.batch(server, TestBundle.sha1("alpha").description)
                #expect(sha1.status == 400)
                let many = (0..<10_001).map { TestBundle.sha256("\($0)").hex }.joined(separator: "\n")
                let tooMany = try await Self.batch(server, many)
                #expect(tooMany.status == 413)
                #expect(tooMany.errorCode == "TOO_MANY_ENTRIES")

                let other = try await AuthTests.token(directory.path, workspace: "other", scope: "read")
                let reader = try await AuthTests.token(directory.path, workspace: "ws", scope: "read")
                let hex = TestBundle.sha256("alpha").hex
                #expect(try await Self.batch(server, hex).status == 401)
                #expect(
                    try await Self.batch(server, hex, headers: [("Authorization", "Bearer \(other)")]).status == 403)
                let allowed = try await Self.batch(server, hex, headers: [("Authorization", "Bearer \(reader)")])
                #expect(allowed.status == 200)
                #expect(try Self.entries(allowed.body).map(\.0) == [hex])

                let status = try await HTTP.get(
                    server.baseURL + "/api/v1/delta/status?workspace=ws",
                    headers: [("Authorization", "Bearer \(reader)")])
                #expect(status.json["last_sequence"]?.intValue == 1)
                #expect(status.json["file_count"]?.intValue == 1)
            }
        }
    }
}
