import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

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
