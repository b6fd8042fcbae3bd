import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// A copy that cannot be materialised never takes the server down (row 3 of the attack review):
/// the workspace turns read-only and "degraded", the server starts anyway, and `deltasync
/// repair` (or the server's own retry) brings it back. Runs the real binary.
@Suite(.serialized) struct DegradedWorkspaceTests {
    static let failing = ["DELTASYNC_FAILPOINT": "materialise-error"]

    @Test func failedMaterialisingDegradesTheWorkspaceAndRepairRestoresIt() async throws {
        try await withTemporaryDirectory("degraded") { directory in
            let work = directory.path
            do {
                let server = try await ServerProcess.start(workDirectory: work, environment: Self.failing)
                defer { server.stop() }
                let first = try await HTTP.upload(
                    server.baseURL, bundle: TestBundle.simple(files: ["a.txt": "a", "dir/b.txt": "b"]),
                    fields: [("workspace", "ws")])
                // Committed before materialising: the reply is a success and the change is durable.
                #expect(first.status == 200)
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
                #expect(status.json["status"]?.stringValue == "degraded")
                #expect(status.json["last_sequence"]?.intValue == 1)
                let refused = try await HTTP.upload(
                    server.baseURL, bundle: TestBundle.simple(files: ["c.txt": "c"]), fields: [("workspace", "ws")])
                #expect(refused.status == 503)
                #expect(refused.errorCode == "WORKSPACE_DEGRADED")
                // Read-only from the database: the manifest still answers.
                let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace=ws")
                #expect(try manifest.decode(ManifestResponse.self).files.count == 2)
                let health = try await HTTP.get(server.baseURL + "/health")
                #expect(String(decoding: health.body, as: UTF8.self).contains("\"degraded_workspaces\":[{"))
                let metrics = try await HTTP.get(server.baseURL + "/metrics")
                #expect(
                    String(decoding: metrics.body, as: UTF8.self).contains(
                        "deltasync_workspace_degraded{workspace=\"ws\"} 1"))
                // Another workspace is unaffected by the degraded one... except that the failpoint
                // breaks every copy; so only check the server still answers.
                #expect(health.status == 200)
            }
            do {
                // Start-up repair fails as well: the server starts anyway, the workspace degraded.
                let server = try await ServerProcess.start(workDirectory: work, environment: Self.failing)
                defer { server.stop() }
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
                #expect(status.json["status"]?.stringValue == "degraded")

                // `deltasync repair` refuses while a server runs on the same WORK_DIR.
                let busy = try await ServerProcess.run(["repair", "--workspace", "ws", "--work-dir", work])
                #expect(busy.status != 0)
                #expect(busy.stderr.contains("server is running"))
            }
            let repaired = try await ServerProcess.run(["repair", "--workspace", "ws", "--work-dir", work])
            #expect(repaired.status == 0, "\(repaired.stderr)")
            #expect(repaired.stdout.contains("2 files"))
            #expect(try DiskTree.files(work + "/workspaces/ws") == [PathKey("a.txt"), PathKey("dir/b.txt")])

            let server = try await ServerProcess.start(workDirectory: work)
            defer { server.stop() }
            let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws")
            #expect(status.json["status"]?.stringValue == "ready")
            let next = try await HTTP.upload(
                server.baseURL, bundle: TestBundle.simple(files: ["c.txt": "c"]), fields: [("workspace", "ws")])
            #expect(next.status == 200)
            #expect(
                try DiskTree.files(work + "/workspaces/ws") == [
                    PathKey("a.txt"), PathKey("dir/b.txt"), PathKey("c.txt"),
                ])

            let unknown = try await ServerProcess.run([
                "repair", "--workspace", "nope", "--work-dir", work + "-missing",
            ])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("no DeltaSync database"))
        }
    }
}
