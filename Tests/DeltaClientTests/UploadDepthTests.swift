@testable import DeltaClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// How many uploads our client keeps in flight: three to a server that takes that many at once
/// (`server_info.max_concurrent_uploads`), never more than it takes (a further one would be
/// refused with `503 SERVER_BUSY`), and two to a server that does not say.
@Suite struct UploadDepthTests {
    static func info(_ limit: Int?) -> ServerInfo {
        ServerInfo(version: "test", limits: BundleLimits(), maxConcurrentUploads: limit)
    }

    @Test func theDepthFollowsTheServersLimit() {
        #expect(SyncEngine.uploadDepth(Self.info(nil)) == 2)
        #expect(SyncEngine.uploadDepth(Self.info(1)) == 1)
        #expect(SyncEngine.uploadDepth(Self.info(2)) == 2)
        #expect(SyncEngine.uploadDepth(Self.info(3)) == 3)
        #expect(SyncEngine.uploadDepth(Self.info(64)) == SyncEngine.uploadsInFlight)
    }

    @Test func theLimitIsReadFromServerInfo() throws {
        func decode(_ json: String) throws -> ServerInfo {
            try JSONDecoder().decode(ServerInfo.self, from: Data(json.utf8))
        }
        #expect(try decode(#"{"version":"1","max_concurrent_uploads":4}"#).maxConcurrentUploads == 4)
        // Absent (an older server, the existing service) or nonsense: not known.
        #expect(try decode(#"{"version":"1"}"#).maxConcurrentUploads == nil)
        #expect(try decode(#"{"version":"1","max_concurrent_uploads":0}"#).maxConcurrentUploads == nil)
        #expect(try decode(#"{"version":"1","max_concurrent_uploads":"four"}"#).maxConcurrentUploads == nil)
        // Written back under the same key.
        let encoded = try JSONEncoder().encode(Self.info(6))
        #expect(try JSONDecoder().decode(ServerInfo.self, from: encoded).maxConcurrentUploads == 6)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""max_concurrent_uploads":6"#))
    }

    /// The server publishes its own limit.
    @Test func theServerPublishesItsLimit() async throws {
        try await withTemporaryDirectory("upload-depth") { directory in
            try await TestServer.with(
                workDirectory: directory.path, configure: { $0.maxConcurrentUploads = 3 }
            ) { server in
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
                guard case .object(let info) = status.json["server_info"] else {
                    Issue.record("status has no server_info: \(status.json)")
                    return
                }
                #expect(info["max_concurrent_uploads"] == .int(3))
            }
        }
    }
}
