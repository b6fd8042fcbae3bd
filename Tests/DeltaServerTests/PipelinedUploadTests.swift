import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// A client may keep two uploads to a workspace in flight: the second asks for the next
/// sequence and names the bundle it follows (`previous_bundle_id`). It waits for the first
/// whichever finished arriving first, and is refused whole when the bundle before it is not the
/// one it names.
@Suite struct PipelinedUploadTests {
    /// A raw upload to workspace `ws` with these extra fields before the bundle part.
    static func raw(_ bundle: [UInt8], fields: [(String, String)]) -> (head: String, body: [UInt8]) {
        var body: [UInt8] = []
        for (name, value) in [("workspace", "ws")] + fields {
            body += Array("--b\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        body += Array("--b\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.tar.gz\"\r\n\r\n".utf8)
        body += bundle + Array("\r\n--b--\r\n".utf8)
        let head =
            "POST /api/v1/delta/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return (head, body)
    }

    /// Starts a raw upload and sends all of it but its last bytes: the server has its fields
    /// and holds it in flight until `finish`.
    static func hold(
        _ server: TestServer, _ bundle: [UInt8], fields: [(String, String)]
    ) async throws -> (connection: RawHTTPConnection, rest: [UInt8]) {
        let (head, body) = raw(bundle, fields: fields)
        let connection = try RawHTTPConnection(port: server.port)
        let before = server.counters.uploadBytesRead
        #expect(await connection.write(head))
        #expect(await connection.write(Array(body.dropLast(8))))
        for _ in 0..<2000 where server.counters.uploadBytesRead < before + Int64(body.count - 8) {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(server.counters.uploadBytesRead >= before + Int64(body.count - 8), "the server read the body")
        return (connection, Array(body.suffix(8)))
    }

    /// The error object of an error reply.
    static func error(_ reply: HTTPReply) -> [String: JSONValue] {
        if case .object(let error)? = reply.json["error"] { return error }
        return [:]
    }

    static func waitUntilWaiting(_ server: TestServer) async throws {
        for _ in 0..<2000 where server.counters.uploadsWaiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        try #require(server.counters.uploadsWaiting == 1, "the second upload waits for the first")
    }

    /// Holds `first` (sequence 1) mid-body, sends `second` whole (sequence 2, after bundle
    /// "first") until the server has it waiting, then lets the first finish: both replies.
    static func inFlightPair(
        _ server: TestServer, first: [UInt8], second: [UInt8]
    ) async throws -> (first: String, second: HTTPReply) {
        let held = try await hold(server, first, fields: [("sequence_number", "1")])
        let pending = Task {
            try await ServerTest.upload(server, second, sequence: 2, extra: [("previous_bundle_id", "first")])
        }
        try await waitUntilWaiting(server)
        #expect(await held.connection.write(held.rest))
        let firstReply = await held.connection.readToEnd()
        return (firstReply, try await pending.value)
    }

    @Test func theSecondUploadInFlightWaitsForTheFirstAndBothApplyInOrder() async throws {
        try await withTemporaryDirectory("pipelined") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let (firstReply, secondReply) = try await Self.inFlightPair(
                    server, first: try TestBundle.simple(bundleID: "first", files: ["a.txt": "A"]),
                    second: try TestBundle.simple(bundleID: "second", updates: ["a.txt": "A2"]))
                #expect(firstReply.hasPrefix("HTTP/1.1 200"), "\(firstReply)")
                #expect(firstReply.contains("\"sequence_number\":1"))
                #expect(secondReply.status == 200, "\(String(decoding: secondReply.body, as: UTF8.self))")
                #expect(secondReply.json["sequence_number"]?.intValue == 2)
                let (sequence, tree) = try await ServerTest.manifestTree(server, workspace: "ws")
                #expect(sequence == 2)
                #expect(tree == ["a.txt": TestBundle.sha256("A2").hex])
                #expect(server.counters.uploadsWaiting == 0)
            }
        }
    }

    @Test func anUploadNamingAnotherPreviousBundleIsRefusedAndChangesNothing() async throws {
        try await withTemporaryDirectory("pipelined-other") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let first = try await ServerTest.upload(
                    server, try TestBundle.simple(bundleID: "first", files: ["a.txt": "A"]), sequence: 1)
                #expect(first.status == 200)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                // Made on top of a bundle this workspace does not hold at sequence 1.
                let refused = try await ServerTest.upload(
                    server, try TestBundle.simple(bundleID: "second", files: ["b.txt": "B"]), sequence: 2,
                    extra: [("previous_bundle_id", "another")])
                #expect(refused.status == 409)
                #expect(refused.errorCode == "SEQUENCE_MISMATCH")
                #expect(Self.error(refused)["expected_sequence"]?.intValue == 2)
                let message = Self.error(refused)["message"]?.stringValue ?? ""
                #expect(message.contains("previous_bundle_id another"), "\(message)")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                // Naming the right one, it applies.
                let accepted = try await ServerTest.upload(
                    server, try TestBundle.simple(bundleID: "second", files: ["b.txt": "B"]), sequence: 2,
                    extra: [("previous_bundle_id", "first")])
                #expect(accepted.status == 200, "\(String(decoding: accepted.body, as: UTF8.self))")
            }
        }
    }

    @Test func theUploadAfterARefusedOneIsRefusedTooAndNothingIsApplied() async throws {
        try await withTemporaryDirectory("pipelined-refused") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                // The first names content it does not carry: refused once it has arrived.
                var broken = TestBundle()
                broken.addManifest(bundleID: "first")
                broken.addOperations([
                    BundleOperation(
                        operation: .created, path: "a.txt", contentHash: TestBundle.sha256("A"), sizeBytes: 1)
                ])
                let (firstReply, secondReply) = try await Self.inFlightPair(
                    server, first: try broken.gzip(),
                    second: try TestBundle.simple(bundleID: "second", files: ["b.txt": "B"]))
                #expect(firstReply.hasPrefix("HTTP/1.1 4"), "\(firstReply)")
                #expect(secondReply.status == 409, "\(String(decoding: secondReply.body, as: UTF8.self))")
                #expect(secondReply.errorCode == "SEQUENCE_MISMATCH")
                #expect(Self.error(secondReply)["expected_sequence"]?.intValue == 1)
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
            }
        }
    }
}
