import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Following a workspace: `manifest`, `changes`, `stream`, `bundles/{sequence}` and
/// `blobs/{hash}`.
struct FeedRoutes: Sendable {
    let storage: any WorkspaceLog & FileTableStore
    let blobs: BlobStore
    let publisher: any ChangePublisher
    let configuration: ServerConfiguration
    let metrics: ServerMetrics

    func register(on api: RouterGroup<DeltaRequestContext>) {
        api.get("/manifest") { request, context in try await manifest(request, context) }
        api.get("/changes") { request, context in try await changes(request, context) }
        api.get("/stream") { request, context in try await stream(request, context) }
        api.get("/bundles/:sequence") { request, context in try await bundle(request, context) }
        api.get("/blobs/:hash") { request, context in try await blob(request, context) }
    }

    func manifest(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        // One snapshot for the sequence and the files, so they agree.
        let (sequence, records) = try await storage.files(workspace: key)
        let files = records.map { file in
            ManifestFile(
                path: file.path, contentHash: ContentHash(algorithm: .sha256, hex: file.sha256), sizeBytes: file.size,
                mode: file.mode
            )
        }
        return try JSONReply.make(ManifestResponse(workspace: key, sequence: sequence, files: files))
    }

    func changes(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        let query = request.uri.queryParameters
        let since = try RouteParameters.integer(
            query["since"].map(String.init), name: "since", default: 0, range: 0...Int64.max)
        let limit = try RouteParameters.integer(
            query["limit"].map(String.init), name: "limit", default: 1000, range: 1...10_000)
        let record = try await storage.workspace(key)
        try Self.requireRetained(record, since: since)
        let page = try await storage.changes(workspace: key, since: since, limit: Int(limit) + 1)
        let last = record?.lastSequence ?? 0
        let entries = page.prefix(Int(limit)).map(\.entry)
        return try JSONReply.make(
            ChangesResponse(
                workspace: key, changes: Array(entries), lastSequence: last, hasMore: page.count > Int(limit))
        )
    }

    func bundle(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        guard let text = context.parameters.get("sequence"), let sequence = Int64(text), sequence > 0 else {
            throw DeltaError(.invalidRequest, "bundle sequence must be a positive integer")
        }
        let record = try await storage.workspace(key)
        try Self.requireRetained(record, since: sequence - 1)
        guard let change = try await storage.change(workspace: key, sequence: sequence) else {
            throw DeltaError(.notFound, "workspace '\(key)' has no bundle with sequence \(sequence)")
        }
        return try await RouteParameters.file(
            blobs.path(for: change.bundleSHA256), type: "application/gzip", context: context)
    }

    func blob(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        let text = context.parameters.get("hash") ?? ""
        let hash = try ContentHash(parsing: text.contains(":") ? text : "sha256:" + text)
        guard hash.algorithm == .sha256, try await storage.holdsContent(workspace: key, sha256: hash.hex) else {
            throw DeltaError(.notFound, "workspace '\(key)' holds no file with content \(text)")
        }
        return try await RouteParameters.file(
            blobs.path(for: hash.hex), type: "application/octet-stream", context: context)
    }

    /// `410 HISTORY_COMPACTED` when the log no longer holds what follows `since`.
    static func requireRetained(_ record: WorkspaceRecord?, since: Int64) throws {
        guard let record, !record.retains(since: since) else { return }
        throw DeltaError(
            .historyCompacted,
            "workspace '\(record.key)' keeps its change log from sequence \(record.firstRetained); a follower at "
                + "\(since) must start again from the manifest",
            details: ["first_retained": .int(record.firstRetained), "last_sequence": .int(record.lastSequence)]
        )
    }
}

extension ChangeRecord {
    /// The entry as `changes` and `stream` publish it.
    var entry: ChangeEntry {
        ChangeEntry(sequence: sequence, bundleID: bundleID, appliedAt: appliedAt, operations: operations)
    }
}
