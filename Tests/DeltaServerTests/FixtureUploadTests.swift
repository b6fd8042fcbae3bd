import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

@Suite struct FixtureUploadTests {
    @Test func fixtureBundlesProduceTheExpectedTree() async throws {
        try await withTemporaryDirectory("fixtures") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let fields = [("workspace_path", ServerTest.demoPath), ("collection_name", "demo-repo-8498378f")]
                let first = try await HTTP.upload(
                    server.baseURL, bundle: ServerTest.fixture("bundle1_initial.tar.gz"), fields: fields)
                #expect(first.status == 200)
                #expect(first.json["sequence_number"]?.intValue == 1)
                #expect(first.json["success"] == .bool(true))
                let second = try await HTTP.upload(
                    server.baseURL, bundle: ServerTest.fixture("bundle2_delta.tar.gz"), fields: fields)
                #expect(second.status == 200)
                let counts = try second.decode(UploadResponse.self).processedOperations
                #expect(counts == OperationCounts(created: 2, updated: 1, deleted: 1, moved: 1, skipped: 1, failed: 0))
                #expect(second.json["next_sequence"]?.intValue == 3)
                #expect(second.json["duplicate"] == .bool(false))

                let workspace = try WorkspaceIdentity.key(forPath: ServerTest.demoPath)
                #expect(second.json["workspace"]?.stringValue == workspace)
                let expected = try ServerTest.expectedTree().mapValues { String($0.dropFirst("sha256:".count)) }
                let (sequence, tree) = try await ServerTest.manifestTree(server, workspace: workspace)
                #expect(sequence == 2)
                #expect(tree == expected)
                #expect(try ServerTest.materialised(directory.path, workspace: workspace) == expected)

                let status = try await HTTP.get(
                    server.baseURL + "/api/v1/delta/status?workspace_path=\(ServerTest.demoPath)")
                #expect(status.status == 200)
                #expect(status.json["last_sequence"]?.intValue == 2)
                #expect(status.json["status"]?.stringValue == "ready")
                #expect(status.json["collection_name"]?.stringValue == "demo-repo-8498378f")
                #expect(status.json["last_upload"]?.stringValue?.hasSuffix("Z") == true)
                #expect(["indexing", "ready"].contains(status.json["index_status"]?.stringValue ?? ""))

                let changes = try await HTTP.get(
                    server.baseURL + "/api/v1/delta/changes?workspace=\(workspace)&since=1"
                )
                .decode(ChangesResponse.self)
                #expect(changes.changes.map(\.sequence) == [2])
                #expect(
                    changes.changes.first?.operations.map(\.operation) == [
                        .created, .created, .updated, .moved, .deleted,
                    ])
                #expect(changes.lastSequence == 2)
                #expect(!changes.hasMore)
            }
        }
    }

    @Test func storedBundlesAndBlobsAreServedBack() async throws {
        try await withTemporaryDirectory("bundles") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let bundle = try ServerTest.fixture("bundle1_initial.tar.gz")
                let fields = [("workspace", "demo")]
                #expect(try await HTTP.upload(server.baseURL, bundle: bundle, fields: fields).status == 200)
                let stored = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/1?workspace=demo")
                #expect(stored.status == 200)
                #expect(stored.body == bundle)
                #expect(stored.headers.first { $0.0.lowercased() == "content-type" }?.1 == "application/gzip")

                // The same bundle uncompressed, as a client on loopback sends it, applies alike
                // and is served back as it came, as a tar.
                let plain = try Gzip.decompress(bundle)
                #expect(
                    try await HTTP.upload(server.baseURL, bundle: plain, fields: [("workspace", "plain")]).status == 200
                )
                let storedPlain = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/1?workspace=plain")
                #expect(storedPlain.body == plain)
                #expect(storedPlain.headers.first { $0.0.lowercased() == "content-type" }?.1 == "application/x-tar")
                #expect(
                    try await ServerTest.manifestTree(server, workspace: "plain").tree
                        == ServerTest.manifestTree(server, workspace: "demo").tree)
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=plain")
                guard case .object(let info) = status.json["server_info"] else {
                    Issue.record("status has no server_info: \(status.json)")
                    return
                }
                #expect(info["supported_formats"] == .array([.string("tar.gz"), .string("tar")]))

                let missing = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/2?workspace=demo")
                #expect(missing.status == 404)
                #expect(missing.errorCode == "NOT_FOUND")

                let (_, tree) = try await ServerTest.manifestTree(server, workspace: "demo")
                let hash = try #require(tree["README.md"])
                let blob = try await HTTP.get(server.baseURL + "/api/v1/delta/blobs/sha256:\(hash)?workspace=demo")
                #expect(blob.status == 200)
                #expect(TestBundle.sha256(blob.body).hex == hash)
                // A hash this workspace does not hold is not served, even if another workspace has it.
                let other = try await HTTP.get(server.baseURL + "/api/v1/delta/blobs/sha256:\(hash)?workspace=other")
                #expect(other.status == 404)
            }
        }
    }

    @Test func unknownWorkspaceIsReadyAndCreatesNothing() async throws {
        try await withTemporaryDirectory("unknown") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace_path=/srv/never/seen")
                #expect(status.status == 200)
                #expect(status.json["last_sequence"]?.intValue == 0)
                #expect(status.json["status"]?.stringValue == "ready")
                #expect(status.json["last_upload"] == .null)
                #expect(
                    status.json["collection_name"]?.stringValue
                        == WorkspaceIdentity.collectionName(forPath: "/srv/never/seen"))
                let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace=nobody").decode(
                    ManifestResponse.self)
                #expect(manifest.sequence == 0 && manifest.files.isEmpty)
                let changes = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=nobody").decode(
                    ChangesResponse.self)
                #expect(changes.changes.isEmpty)
                #expect(try await server.prepared.storage.workspaces().isEmpty)
                let relative = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace_path=relative/dir")
                #expect(relative.status == 400)
                #expect(relative.errorCode == "INVALID_WORKSPACE")
            }
        }
    }

    @Test func changesPaginateAndRecoverListsBundles() async throws {
        try await withTemporaryDirectory("changes") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                for index in 1...5 {
                    let reply = try await ServerTest.upload(
                        server, TestBundle.simple(files: ["f\(index).txt": "v\(index)"]))
                    #expect(reply.status == 200)
                }
                let page = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=1&limit=2")
                    .decode(ChangesResponse.self)
                #expect(page.changes.map(\.sequence) == [2, 3])
                #expect(page.hasMore)
                let beyond = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=99").decode(
                    ChangesResponse.self)
                #expect(beyond.changes.isEmpty && !beyond.hasMore && beyond.lastSequence == 5)
                let bad = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&limit=10001")
                #expect(bad.status == 400)

                let recovered = try await HTTP.post(
                    server.baseURL + "/api/v1/delta/recover",
                    json: "{\"workspace\":\"ws\",\"from_sequence\":2,\"to_sequence\":4}"
                ).decode(RecoverResponse.self)
                #expect(recovered.recoveredBundles.map(\.sequence) == [2, 3, 4])
                #expect(recovered.recoveredBundles.first?.operations.created == 1)
                #expect(recovered.nextSequence == 6)
            }
        }
    }

    @Test func frameworkErrorsUseTheEnvelope() async throws {
        try await withTemporaryDirectory("envelope") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let missing = try await HTTP.get(server.baseURL + "/api/v1/delta/nothing")
                #expect(missing.status == 404)
                #expect(missing.errorCode == "NOT_FOUND")
                #expect(missing.json["success"] == .bool(false))
                let health = try await HTTP.get(server.baseURL + "/health")
                #expect(health.status == 200)
                #expect(health.json["status"]?.stringValue == "healthy")
                let metrics = try await HTTP.get(server.baseURL + "/metrics")
                #expect(String(decoding: metrics.body, as: UTF8.self).contains("deltasync_upload_bytes_read_total"))
            }
        }
    }
}
