import Crypto
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// Helpers shared by the server's integration tests.
enum ServerTest {
    static var fixtures: String { FixtureFiles.directory }

    static func fixture(_ name: String) throws -> [UInt8] { try FileSystem.readAll(fixtures + "/" + name) }

    /// `{path: "sha256:…"}` expected after both fixtures.
    static func expectedTree() throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(fixture("expected-tree-after-bundle2.json")))
    }

    static let demoPath = "/home/dev/demo-repo"

    /// Everything a rejection must leave untouched: sequence, files, change log, materialised copy.
    struct Snapshot: Equatable {
        var lastSequence: Int64?
        var manifest: [String]
        var changes: [UInt8]
        var materialised: [String: String]

        /// Expects `self == before`, field by field, so a failure names what changed.
        func expectUnchanged(since before: Snapshot, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(lastSequence == before.lastSequence, "last_sequence", sourceLocation: sourceLocation)
            #expect(manifest == before.manifest, "manifest", sourceLocation: sourceLocation)
            #expect(
                changes == before.changes,
                "change log: \(String(decoding: before.changes, as: UTF8.self)) → \(String(decoding: changes, as: UTF8.self))",
                sourceLocation: sourceLocation)
            #expect(materialised == before.materialised, "materialised copy", sourceLocation: sourceLocation)
        }
    }

    /// Reads what `Snapshot` holds; a read that is not answered 200 is a failure of its own (named,
    /// with the reply), never a snapshot that merely differs.
    static func snapshot(_ server: TestServer, workspace: String) async throws -> Snapshot {
        func read(_ endpoint: String) async throws -> HTTPReply {
            let reply = try await HTTP.get(server.baseURL + "/api/v1/delta/\(endpoint)?workspace=\(workspace)")
            try #require(reply.status == 200, "\(endpoint): \(String(decoding: reply.body, as: UTF8.self))")
            return reply
        }
        let status = try await read("status")
        let manifest = try await read("manifest").decode(ManifestResponse.self)
        let changes = try await read("changes")
        return Snapshot(
            lastSequence: status.json["last_sequence"]?.intValue,
            manifest: manifest.files.map { "\($0.path) \($0.contentHash) \($0.mode)" },
            changes: changes.body,
            materialised: try materialised(server.configuration.workDirectory, workspace: workspace)
        )
    }

    /// `{relative path: sha256 hex}` of the materialised copy on disk.
    static func materialised(_ workDirectory: String, workspace: String) throws -> [String: String] {
        let root = workDirectory + "/workspaces/" + workspace
        var result: [String: String] = [:]
        for relative in try DiskListing.regularFiles(root) {
            result[relative] = SHA256.hash(data: try FileSystem.readAll(root + "/" + relative)).hexString
        }
        return result
    }

    /// The manifest as `{path: sha256 hex}`.
    static func manifestTree(_ server: TestServer, workspace: String) async throws -> (
        sequence: Int64, tree: [String: String]
    ) {
        let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace=\(workspace)")
            .decode(ManifestResponse.self)
        return (
            manifest.sequence, Dictionary(uniqueKeysWithValues: manifest.files.map { ($0.path, $0.contentHash.hex) })
        )
    }

    static func upload(
        _ server: TestServer, _ bundle: [UInt8], workspace: String = "ws", sequence: Int64? = nil, force: String? = nil,
        extra: [(String, String)] = [], headers: [(String, String)] = []
    ) async throws -> HTTPReply {
        var fields: [(String, String)] = [("workspace", workspace), ("workspace_path", "/tmp/\(workspace)")]
        if let sequence { fields.append(("sequence_number", String(sequence))) }
        if let force { fields.append(("force", force)) }
        return try await HTTP.upload(server.baseURL, bundle: bundle, fields: fields + extra, headers: headers)
    }
}
