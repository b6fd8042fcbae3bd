import CoreMetrics
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
    /// Encoded stream events shared by this server's subscribers (the applier puts each new
    /// entry there as it commits).
    let events: StreamEventCache

    func register(on api: RouterGroup<DeltaRequestContext>) {
        api.get("/manifest") { request, context in try await manifest(request, context) }
        api.get("/changes") { request, context in try await changes(request, context) }
        api.get("/stream") { request, context in try await stream(request, context) }
        api.get("/bundles/:sequence") { request, context in try await bundle(request, context) }
        api.get("/blobs/:hash") { request, context in try await blob(request, context) }
        api.post("/blobs") { request, context in try await blobBatch(request, context) }
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
        // Written by hand: `JSONEncoder` takes most of a second on 100,000 files.
        return JSONReply.encoded(
            ManifestJSON.encode(ManifestResponse(workspace: key, sequence: sequence, files: files)))
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
        return JSONReply.encoded(
            ChangeJSON.encode(
                ChangesResponse(
                    workspace: key, changes: Array(entries), lastSequence: last, hasMore: page.count > Int(limit))))
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
        let path = blobs.path(for: change.bundleSHA256)
        if !FileSystem.exists(path) {
            let recipe = path + BundleRecipe.suffix
            if FileSystem.exists(recipe) {
                return try storedFromRecipe(recipe, size: change.bundleSize, logger: context.logger)
            }
        }
        // Served as it was uploaded: a client on loopback sends an uncompressed tar.
        let format = await offThePool { (try? BundleFormat.detect(fileAt: path)) ?? .tarGz }
        return try await RouteParameters.file(path, type: format.contentType, context: context)
    }

    /// An uncompressed bundle, byte for byte, from its recipe and the blobs it names.
    private func storedFromRecipe(_ recipe: String, size: Int64, logger: Logger) throws -> Response {
        let reader = try BundleRecipe.Reader(path: recipe, blobs: blobs)
        return Response(
            status: .ok,
            headers: [.contentType: BundleFormat.tar.contentType, .contentLength: String(size)],
            body: ResponseBody { writer in
                do {
                    while let chunk = try await Blocking.run({ try reader.nextChunk() }) {
                        try await writer.write(ByteBuffer(bytes: chunk))
                    }
                } catch {
                    // The status line is gone: the connection closes short of Content-Length.
                    logger.error(
                        "serving a stored bundle failed", metadata: ["recipe": "\(recipe)", "error": "\(error)"])
                    throw error
                }
                try await writer.finish(nil)
            })
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

    /// Most hashes one `POST /blobs` may ask for.
    static let maxBatchHashes = 10_000

    /// `POST /api/v1/delta/blobs?workspace=`: the body lists SHA-256s (`sha256:<hex>` or bare
    /// hex), one per line, at most 10,000; the reply is a tar stream of those the workspace holds
    /// now, each named by its hex, in the order asked (duplicates once). What a follower fetches
    /// one request at a time otherwise — a bootstrap of 100,000 files in a few requests.
    func blobBatch(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        let body = try await RouteParameters.smallBody(
            request, context, limit: 1 << 20,
            tooLarge: DeltaError(.bundleTooLarge, "blobs takes at most 10,000 hashes (a body of at most 1 MiB)"))
        var wanted: [String] = []
        var seen = Set<String>()
        for line in String(decoding: body.readableBytesView, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            let hash = try ContentHash(parsing: text.contains(":") ? text : "sha256:" + text)
            guard hash.algorithm == .sha256 else {
                throw DeltaError(.invalidHash, "blobs are named by sha256, not \(text)")
            }
            if seen.insert(hash.hex).inserted { wanted.append(hash.hex) }
            guard wanted.count <= Self.maxBatchHashes else {
                throw DeltaError(.tooManyEntries, "blobs takes at most \(Self.maxBatchHashes) hashes per request")
            }
        }
        let held = try await storage.heldContents(workspace: key, among: wanted)
        let archive = BlobArchive(wanted.filter(held.contains).map { ($0, blobs.path(for: $0)) })
        let sent = metrics.counter("deltasync_blob_batch_bytes_sent_total")
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-tar"],
            body: ResponseBody { writer in
                while let chunk = try await Blocking.run({ try archive.nextChunk() }) {
                    try await writer.write(ByteBuffer(bytes: chunk))
                    sent.increment(by: chunk.count)
                }
                try await writer.finish(nil)
            })
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
