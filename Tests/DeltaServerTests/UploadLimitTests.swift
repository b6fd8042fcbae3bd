import AsyncHTTPClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// A multi-gigabyte upload is refused after reading at most the limit, asserted on the server's
/// bytes-read counter — not by timing.
@Suite struct UploadLimitTests {
    static let limit: Int64 = 1 << 20

    /// An endless-looking multipart body: headers, then `total` bytes of generated data.
    struct GeneratedBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let boundary: String
        let total: Int64

        struct AsyncIterator: AsyncIteratorProtocol {
            var head: ByteBuffer?
            var remaining: Int64
            let chunk = ByteBuffer(repeating: 0x5a, count: 64 * 1024)

            mutating func next() async throws -> ByteBuffer? {
                if let head = head.take() { return head }
                guard remaining > 0 else { return nil }
                remaining -= Int64(chunk.readableBytes)
                return chunk
            }
        }

        func makeAsyncIterator() -> AsyncIterator {
            let head =
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"workspace\"\r\n\r\nws\r\n"
                + "--\(boundary)\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.tar.gz\"\r\n\r\n"
            return AsyncIterator(head: ByteBuffer(string: head), remaining: total)
        }
    }

    func send(_ server: TestServer, declaredLength: Bool) async throws -> Int? {
        let boundary = "gen-boundary"
        let total: Int64 = 4 << 30  // 4 GiB
        var request = HTTPClientRequest(url: server.baseURL + "/api/v1/delta/upload")
        request.method = .POST
        request.headers.add(name: "content-type", value: "multipart/form-data; boundary=\(boundary)")
        request.body = .stream(
            GeneratedBody(boundary: boundary, total: total), length: declaredLength ? .known(total + 200) : .unknown)
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            return Int(response.status.code)
        } catch {
            return nil  // the server may close the connection before the client reads the reply
        }
    }

    @Test func chunkedMultiGigabyteUploadStopsAtTheLimit() async throws {
        try await withTemporaryDirectory("huge") { directory in
            try await TestServer.with(
                workDirectory: directory.path, configure: { $0.limits.maxCompressedBytes = Self.limit }
            ) { server in
                let status = try await send(server, declaredLength: false)
                #expect(status == nil || status == 413)
                let read = server.counters.uploadBytesRead
                #expect(read > 0)
                // At most the cap (bundle limit + form overhead) plus one buffer in flight.
                #expect(read <= Self.limit + UploadReceiverOverhead.bytes + 1 << 20, "read \(read) bytes")
                #expect(try await ServerTest.snapshot(server, workspace: "ws").lastSequence == 0)
                // The server is still healthy and accepts the next upload.
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["ok": "ok"])).status == 200)
            }
        }
    }

    @Test func declaredOversizedUploadIsRefusedBeforeReading() async throws {
        try await withTemporaryDirectory("declared") { directory in
            try await TestServer.with(
                workDirectory: directory.path, configure: { $0.limits.maxCompressedBytes = Self.limit }
            ) { server in
                let status = try await send(server, declaredLength: true)
                #expect(status == nil || status == 413)
                #expect(server.counters.uploadBytesRead == 0)
            }
        }
    }
}

/// A body that stalls between chunks, for the upload deadline.
struct SlowBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let boundary: String

    struct AsyncIterator: AsyncIteratorProtocol {
        let boundary: String
        var step = 0

        mutating func next() async throws -> ByteBuffer? {
            step += 1
            switch step {
            case 1:
                return ByteBuffer(
                    string: "--\(boundary)\r\nContent-Disposition: form-data; name=\"workspace\"\r\n\r\nws\r\n")
            case 2...4:
                // Each gap well under the idle timeout, together over the deadline.
                try await Task.sleep(for: .milliseconds(900))
                return ByteBuffer(
                    string: "--\(boundary)\r\nContent-Disposition: form-data; name=\"pad\(step)\"\r\n\r\nx\r\n")
            default:
                return nil
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(boundary: boundary) }
}

@Suite struct UploadDeadlineTests {
    @Test func anUploadSlowerThanTheDeadlineIsRefused() async throws {
        try await withTemporaryDirectory("deadline") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: { $0.uploadTimeoutSeconds = 2 }) {
                server in
                var request = HTTPClientRequest(url: server.baseURL + "/api/v1/delta/upload")
                request.method = .POST
                request.headers.add(name: "content-type", value: "multipart/form-data; boundary=slow")
                request.body = .stream(SlowBody(boundary: "slow"), length: .unknown)
                // A client of its own: the connection the server cuts off is never offered from the
                // shared pool to the reads below (one of them once failed with "I/O on closed
                // channel" that way).
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                let status: Int? = await {
                    do {
                        let response = try await client.execute(request, timeout: .seconds(30))
                        return Int(response.status.code)
                    } catch {
                        return nil  // the server closes the connection after its reply; the client may see that first
                    }
                }()
                try await client.shutdown()
                // Without a deadline the body would complete and be refused as 400 INVALID_REQUEST (no
                // bundle part). With it: 408, or (on a loaded machine) the idle timeout, which is the
                // same setting, closes the stalled connection first.
                #expect(status == 408 || status == nil)
                #expect([nil, "REQUEST_TIMEOUT"].contains(server.counters.lastRejectionCode))
                let after = try await ServerTest.snapshot(server, workspace: "ws")
                #expect(after.lastSequence == 0)
            }
        }
    }
}

enum UploadReceiverOverhead {
    /// `UploadReceiver.formOverhead`: room for fields and framing around the bundle.
    static let bytes: Int64 = 1 << 20
}
