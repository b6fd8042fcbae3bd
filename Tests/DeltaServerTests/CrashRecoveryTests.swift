import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// "kill -9 at any point": the real binary `_exit`s at each named failpoint of the upload path;
/// the restarted server must serve either the old or the new state, in the database and on disk,
/// never a mix — and a retry of the same bundle must converge.
@Suite(.serialized) struct CrashRecoveryTests {
    static let first: [String: String] = [
        "keep.txt": "keep", "edit.txt": "v1", "dir/remove.txt": "bye", "old/name.txt": "moving",
    ]

    static func expectConsistent(
        _ server: ServerProcess, work: String, sequence: Int64, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: String] {
        let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace=ws").decode(
            ManifestResponse.self)
        #expect(manifest.sequence == sequence, sourceLocation: sourceLocation)
        let tree = Dictionary(uniqueKeysWithValues: manifest.files.map { ($0.path, $0.contentHash.hex) })
        #expect(
            try ServerTest.materialised(work, workspace: "ws") == tree, "materialised copy differs from the database",
            sourceLocation: sourceLocation)
        return tree
    }

    @Test(arguments: Failpoints.uploadPathPoints)
    func crashAtFailpointLeavesOldOrNewState(_ point: Failpoints.Point) async throws {
        try await withTemporaryDirectory("crash") { directory in
            let work = directory.sub("work")
            let firstBundle = try TestBundle.simple(bundleID: "first", files: Self.first)
            let secondBundle = try TestBundle.simple(
                bundleID: "second", files: ["new/file.txt": "new"], updates: ["edit.txt": "v2"],
                deletes: ["dir/remove.txt"],
                moves: [(from: "old/name.txt", to: "renamed/name.txt")]
            )
            var oldTree: [String: String] = [:]
            do {
                let server = try ServerProcess(workDirectory: work)
                let reply = try await HTTP.upload(server.baseURL, bundle: firstBundle, fields: [("workspace", "ws")])
                #expect(reply.status == 200)
                oldTree = try await Self.expectConsistent(server, work: work, sequence: 1)
                server.stop()
            }
            do {
                let crashing = try ServerProcess(
                    workDirectory: work, environment: ["DELTASYNC_FAILPOINT": point.rawValue])
                let reply = try? await HTTP.upload(
                    crashing.baseURL, bundle: secondBundle, fields: [("workspace", "ws")])
                #expect(reply == nil || reply?.status != 200, "the upload must not succeed past a failpoint")
                #expect(crashing.waitForExit() == 137)
            }
            let restarted = try ServerProcess(workDirectory: work)
            defer { restarted.stop() }
            let committed = point == .afterCommit || point == .afterMaterialise
            let tree = try await Self.expectConsistent(restarted, work: work, sequence: committed ? 2 : 1)
            if !committed { #expect(tree == oldTree) }
            // The client retries the same bundle: applied once, whichever side of the commit it died on.
            let retry = try await HTTP.upload(restarted.baseURL, bundle: secondBundle, fields: [("workspace", "ws")])
            #expect(retry.status == 200)
            #expect(retry.json["duplicate"] == .bool(committed))
            #expect(retry.json["sequence_number"]?.intValue == 2)
            let final = try await Self.expectConsistent(restarted, work: work, sequence: 2)
            #expect(Set(final.keys) == ["keep.txt", "edit.txt", "new/file.txt", "renamed/name.txt"])
            #expect(
                !FileManager.default.fileExists(atPath: work + "/workspaces/ws/dir"), "empty directories are pruned")
            #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/tmp").isEmpty)
        }
    }

    @Test func restartKeepsSequenceAndFilesAndRepairsTheCopy() async throws {
        try await withTemporaryDirectory("restart") { directory in
            let work = directory.sub("work")
            do {
                let server = try ServerProcess(workDirectory: work)
                #expect(
                    try await HTTP.upload(
                        server.baseURL, bundle: TestBundle.simple(files: Self.first), fields: [("workspace", "ws")]
                    ).status == 200)
                server.stop()
            }
            // Someone damages the materialised copy while the server is down.
            try FileManager.default.removeItem(atPath: work + "/workspaces/ws")
            let server = try ServerProcess(workDirectory: work)
            defer { server.stop() }
            let tree = try await Self.expectConsistent(server, work: work, sequence: 1)
            #expect(tree.count == Self.first.count)
            let next = try await HTTP.upload(
                server.baseURL, bundle: TestBundle.simple(files: ["more.txt": "m"]), fields: [("workspace", "ws")])
            #expect(next.json["sequence_number"]?.intValue == 2)
        }
    }
}
