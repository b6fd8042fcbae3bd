import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// Early rejects every client can read (DESIGN §8 "Drop-in details"): a client that writes its
/// whole body before reading still gets the 413, because the server keeps discarding the rest
/// for at most 64 MiB or 10 s before it closes; it never stores or fully drains the body.
@Suite struct LingeringCloseTests {
    static let limit: Int64 = 2 << 20  // the cap adds 1 MiB for form fields: 2× is over it

    static func head(length: Int) -> String {
        "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + "Content-Length: \(length)\r\n\r\n"
    }

    @Test(arguments: [2, 10])
    func aClientThatWritesFirstReadsThe413(multiple: Int) async throws {
        try await withTemporaryDirectory("linger") { directory in
            try await TestServer.with(
                workDirectory: directory.path, configure: { $0.limits.maxCompressedBytes = Self.limit }
            ) { server in
                let body = [UInt8](repeating: 0x62, count: Int(Self.limit) * multiple)
                let connection = try RawHTTPConnection(port: server.port)
                #expect(await connection.write(Self.head(length: body.count)))
                #expect(await connection.write(body))
                let reply = await connection.readToEnd()
                #expect(reply.hasPrefix("HTTP/1.1 413"))
                #expect(reply.contains("BUNDLE_TOO_LARGE"))
                // Declared over the limit: refused from the head, nothing read by the handler.
                #expect(server.counters.uploadBytesRead == 0)
                #expect(server.counters.uploadBytesDiscarded <= Int64(body.count))
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tmp").isEmpty)
            }
        }
    }

    @Test func aHugeBodyIsCutOffAfterTheLingerBound() async throws {
        try await withTemporaryDirectory("linger-huge") { directory in
            try await TestServer.with(
                workDirectory: directory.path, configure: { $0.limits.maxCompressedBytes = Self.limit }
            ) { server in
                let connection = try RawHTTPConnection(port: server.port)
                #expect(await connection.write(Self.head(length: Int(Self.limit) * 1000)))
                let chunk = [UInt8](repeating: 0x62, count: 1 << 20)
                var sent = 0
                while sent < 512, await connection.write(chunk) { sent += 1 }
                // The server closed long before the 4 GB were sent, and read only what it counts.
                #expect(sent < 512)
                #expect(server.counters.uploadBytesRead == 0)
                #expect(server.counters.uploadBytesDiscarded <= (64 << 20) + (4 << 20))
                #expect(try await HTTP.get(server.baseURL + "/health").status == 200)
            }
        }
    }
}

/// `Expect: 100-continue`: `100 Continue` once the head passes the checks made before the body
/// is read, the final answer at once otherwise (so curl needs no `-H 'Expect:'`).
@Suite struct ExpectContinueTests {
    static func head(length: Int, extra: String = "") -> String {
        "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + "Expect: 100-continue\r\n\(extra)Content-Length: \(length)\r\n\r\n"
    }

    @Test func acceptableHeadGetsContinueThenTheResult() async throws {
        try await withTemporaryDirectory("continue") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let bundle = try TestBundle.simple(files: ["a.txt": "a"])
                var body = Array("--b\r\nContent-Disposition: form-data; name=\"workspace\"\r\n\r\nws\r\n".utf8)
                body += Array(
                    "--b\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.tar.gz\"\r\n\r\n".utf8)
                body += bundle + Array("\r\n--b--\r\n".utf8)
                let connection = try RawHTTPConnection(port: server.port)
                #expect(await connection.write(Self.head(length: body.count)))
                // Nothing of the body has been sent: the interim reply must come first.
                #expect(await connection.readSome().hasPrefix("HTTP/1.1 100 Continue"))
                #expect(await connection.write(body))
                let reply = await connection.readSome()
                #expect(reply.hasPrefix("HTTP/1.1 200"))
                #expect(try await ServerTest.manifestTree(server, workspace: "ws").tree.keys.contains("a.txt"))
            }
        }
    }

    @Test func unacceptableHeadsGetTheirFinalAnswerAtOnce() async throws {
        try await withTemporaryDirectory("continue-no") { directory in
            try await TestServer.with(
                workDirectory: directory.path, configure: { $0.limits.maxCompressedBytes = 1 << 20 }
            ) { server in
                let oversize = try RawHTTPConnection(port: server.port)
                #expect(await oversize.write(Self.head(length: 50 << 20)))
                let tooLarge = await oversize.readSome()
                #expect(tooLarge.hasPrefix("HTTP/1.1 413"))
                #expect(!tooLarge.contains("100 Continue"))

                let authority = TokenAuthority(storage: server.prepared.storage, loopback: true)
                _ = try await authority.create(workspace: "*", scope: .write, label: nil)
                let badToken = try RawHTTPConnection(port: server.port)
                #expect(await badToken.write(Self.head(length: 1000, extra: "Authorization: Bearer wrong\r\n")))
                let unauthorized = await badToken.readSome()
                #expect(unauthorized.hasPrefix("HTTP/1.1 401"))
                #expect(server.counters.uploadBytesRead == 0)
            }
        }
    }
}
