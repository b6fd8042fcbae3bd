import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// The HTTP API: the compatible core (`health`, `status`, `upload`, `recover`) and our
/// extensions (`manifest`, `bundles/{sequence}`, `changes`, `blobs/{hash}`, `metrics`).
struct DeltaRoutes: Sendable {
    let storage: any DeltaStorage
    let applier: BundleApplier
    let receiver: UploadReceiver
    let blobs: BlobStore
    let configuration: ServerConfiguration
    let counters: ServerCounters
    let authority: TokenAuthority
    let gate: UploadGate
    let degraded: DegradedWorkspaces

    static let version = "0.1.0"

    func register(on router: Router<DeltaRequestContext>) {
        router.get("/health") { request, context in try await health(request, context) }
        router.get("/metrics") { _, context in try await metrics(context) }
        let api = router.group("/api/v1/delta")
        api.get("/status") { request, context in try await status(request, context) }
        api.post("/upload") { request, context in try await upload(request, context) }
        api.post("/recover") { request, context in try await recover(request, context) }
        api.get("/manifest") { request, context in try await manifest(request, context) }
        api.get("/changes") { request, context in try await changes(request, context) }
        api.get("/bundles/:sequence") { request, context in try await bundle(request, context) }
        api.get("/blobs/:hash") { request, context in try await blob(request, context) }
    }

    var serverInfo: ServerInfo { ServerInfo(version: Self.version, limits: configuration.limits) }

    // MARK: - Compatible core

    /// Anyone may ask whether the server is healthy; the details (paths, database errors,
    /// degraded workspaces) need an admin token for every workspace, or a server without auth.
    func health(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        var healthy = true
        var database = "ok"
        do { try await storage.healthCheck() } catch {
            healthy = false
            database = "error: \(error)"
        }
        let freeBytes = SpaceGuard(directory: configuration.workDirectory, floorBytes: 0).freeBytes() ?? -1
        if freeBytes >= 0 && freeBytes < 64 << 20 { healthy = false }
        var body: [String: JSONValue] = [
            "status": .string(healthy ? "healthy" : "unhealthy"),
            "version": .string(Self.version),
            "timestamp": .string(Timestamp.now()),
        ]
        if try await mayReadServerDetails(request, context) {
            body["storage"] = .object([
                "backend": .string("sqlite"), "database": .string(database), "free_bytes": .int(freeBytes),
                "work_dir": .string(configuration.workDirectory),
            ])
            body["degraded_workspaces"] = .array(
                degraded.all.map { .object(["workspace": .string($0.workspace), "reason": .string($0.reason)]) })
        }
        return try JSONReply.make(body, status: healthy ? .ok : .serviceUnavailable)
    }

    /// Whether the caller may see server-wide details: no auth on this server, or an admin token
    /// for every workspace. `/health` skips the auth middleware (load balancers probe it without
    /// a token), so the bearer header is resolved here; a bad one only hides the details.
    private func mayReadServerDetails(_ request: Request, _ context: DeltaRequestContext) async throws -> Bool {
        guard try await authority.isRequired() else { return true }
        guard let token = try? await authority.resolve(authorization: request.headers[.authorization]) else {
            return false
        }
        return token.workspace == "*" && token.scope.allows(.admin)
    }

    func status(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, path) = try workspaceParameter(request)
        try TokenAuthority.authorize(context.token, required: context.authRequired, workspace: key, scope: .read)
        let record = try await storage.workspace(key)
        let files = record == nil ? 0 : try await storage.fileCount(workspace: key)
        let response = StatusResponse(
            workspace: key, workspacePath: path ?? record?.workspacePath,
            collectionName: record?.collectionName ?? WorkspaceIdentity.collectionName(forPath: path ?? key),
            lastSequence: record?.lastSequence ?? 0, lastUpload: record?.lastUpload, pendingOperations: 0,
            indexedSequence: record?.indexedSequence ?? 0, indexStatus: "none", status: "ready", fileCount: files,
            serverInfo: serverInfo
        )
        var reply = response
        if let reason = degraded.reason(key) {
            reply.status = "degraded"
            reply.degradedReason = reason
        }
        return try JSONReply.make(reply)
    }

    func upload(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        try await gate.withSlot { try await uploadAdmitted(request, context) }
    }

    private func uploadAdmitted(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let authority = self.authority
        // Checked when the bundle part begins, before a byte of it is spooled: the bearer token
        // (already resolved by the middleware) or the `session` field among the capped fields
        // that came before it.
        let received = try await receiver.receive(request, context: context) { fields in
            let token = try await Self.uploadToken(context.token, fields: fields, authority: authority)
            let key = try? WorkspaceIdentity.resolve(name: fields["workspace"], path: fields["workspace_path"])
            if let key {
                try TokenAuthority.authorize(token, required: context.authRequired, workspace: key, scope: .write)
            } else if context.authRequired {
                // The workspace fields may follow the bundle; the scope can be checked already.
                try TokenAuthority.authorizeScope(token, scope: .write)
            }
        }
        defer { unlink(received.bundlePath) }
        let fields = received.fields
        let token = try await Self.uploadToken(context.token, fields: fields, authority: authority)
        let key = try WorkspaceIdentity.resolve(name: fields["workspace"], path: fields["workspace_path"])
        try TokenAuthority.authorize(token, required: context.authRequired, workspace: key, scope: .write)
        let workspacePath = try fields["workspace_path"].flatMap {
            $0.isEmpty ? nil : try WorkspaceIdentity.normalise(path: $0)
        }
        let upload = UploadRequest(
            workspace: key, workspacePath: workspacePath,
            collectionName: fields["collection_name"].flatMap { $0.isEmpty ? nil : $0 },
            sequenceNumber: try Self.sequenceField(fields["sequence_number"]),
            force: try Self.boolField(fields["force"]),
            bundlePath: received.bundlePath, bundleSHA256: received.bundleSHA256, bundleSize: received.bundleSize
        )
        return try JSONReply.make(try await applier.apply(upload))
    }

    func recover(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let body: ByteBuffer
        do {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > 1 << 20 {
                throw DeltaError(.bundleTooLarge, "recover takes a JSON body of at most 1 MiB")
            }
            context.sendContinueIfExpected(request)
            body = try await request.body.collect(upTo: 1 << 20)
        } catch let error as HTTPParserError {
            throw error  // a malformed body: 400 from the error middleware
        } catch {
            throw UploadRejection(
                error: DeltaError(.bundleTooLarge, "recover takes a JSON body of at most 1 MiB"), bodyUnread: true)
        }
        let input: RecoverRequest
        do {
            input = try JSONDecoder().decode(RecoverRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw DeltaError(
                .invalidRequest, "recover needs a JSON body {\"workspace_path\", \"from_sequence\", \"to_sequence\"}")
        }
        let key = try WorkspaceIdentity.resolve(name: input.workspace, path: input.workspacePath)
        try TokenAuthority.authorize(context.token, required: context.authRequired, workspace: key, scope: .read)
        let last = try await storage.workspace(key)?.lastSequence ?? 0
        // Both ends come from the client: clamp them into 1...last before any arithmetic, so
        // no pair of values can overflow (`to - from` below has both sides in 1...last).
        let from = max(1, input.fromSequence)
        let to = min(input.toSequence ?? last, last)
        var bundles: [RecoverResponse.Bundle] = []
        if to >= from {
            if to - from >= 1000 {
                throw DeltaError(
                    .invalidRequest, "recover returns at most 1000 bundles; narrow from_sequence..to_sequence")
            }
            for change in try await storage.changes(workspace: key, since: from - 1, limit: Int(to - from) + 1) {
                bundles.append(.init(sequence: change.sequence, bundleID: change.bundleID, operations: change.counts))
            }
        }
        return try JSONReply.make(RecoverResponse(workspace: key, recoveredBundles: bundles, nextSequence: last + 1))
    }

    /// The bearer token, else the `session` form field existing clients send.
    private static func uploadToken(
        _ bearer: TokenRecord?, fields: [String: String], authority: TokenAuthority
    ) async throws -> TokenRecord? {
        if let bearer { return bearer }
        guard let session = fields["session"], !session.isEmpty else { return nil }
        return try await authority.resolve(session)
    }

    // MARK: - Extensions

    func manifest(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try workspaceParameter(request)
        try TokenAuthority.authorize(context.token, required: context.authRequired, workspace: key, scope: .read)
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
        let (key, _) = try workspaceParameter(request)
        try TokenAuthority.authorize(context.token, required: context.authRequired, workspace: key, scope: .read)
        let query = request.uri.queryParameters
        let since = try Self.integer(query["since"].map(String.init), name: "since", default: 0, range: 0...Int64.max)
        let limit = try Self.integer(query["limit"].map(String.init), name: "limit", default: 1000, range: 1...10_000)
        let page = try await storage.changes(workspace: key, since: since, limit: Int(limit) + 1)
        let last = try await storage.workspace(key)?.lastSequence ?? 0
        let entries = page.prefix(Int(limit)).map { change in
            ChangeEntry(
                sequence: change.sequence, bundleID: change.bundleID, appliedAt: change.appliedAt,
                operations: change.operations)
        }
        return try JSONReply.make(
            ChangesResponse(
                workspace: key, changes: Array(entries), lastSequence: last, hasMore: page.count > Int(limit))
        )
    }

    func bundle(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try workspaceParameter(request)
        try TokenAuthority.authorize(context.token, required: context.authRequired, workspace: key, scope: .read)
        guard let text = context.parameters.get("sequence"), let sequence = Int64(text), sequence > 0 else {
            throw DeltaError(.invalidRequest, "bundle sequence must be a positive integer")
        }
        guard let change = try await storage.change(workspace: key, sequence: sequence) else {
            throw DeltaError(.notFound, "workspace '\(key)' has no bundle with sequence \(sequence)")
        }
        return try await file(blobs.path(for: change.bundleSHA256), type: "application/gzip", context: context)
    }

    func blob(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try workspaceParameter(request)
        try TokenAuthority.authorize(context.token, required: context.authRequired, workspace: key, scope: .read)
        let text = context.parameters.get("hash") ?? ""
        let hash = try ContentHash(parsing: text.contains(":") ? text : "sha256:" + text)
        guard hash.algorithm == .sha256, try await storage.holdsContent(workspace: key, sha256: hash.hex) else {
            throw DeltaError(.notFound, "workspace '\(key)' holds no file with content \(text)")
        }
        return try await file(blobs.path(for: hash.hex), type: "application/octet-stream", context: context)
    }

    func metrics(_ context: DeltaRequestContext) async throws -> Response {
        if context.authRequired, let token = context.token, token.workspace != "*", token.scope.allows(.admin) {
            throw DeltaError(
                .forbidden,
                "/metrics covers every workspace, so it needs an admin token for '*'; this admin token is scoped to "
                    + "workspace '\(token.workspace)' (create one with 'deltasync token create --workspace \"*\" --scope admin')"
            )
        }
        try TokenAuthority.authorize(context.token, required: context.authRequired, workspace: "*", scope: .admin)
        var lines = [
            "# TYPE deltasync_upload_bytes_read_total counter",
            "deltasync_upload_bytes_read_total \(counters.uploadBytesRead)",
            "# TYPE deltasync_bundles_applied_total counter",
            "deltasync_bundles_applied_total \(counters.bundlesApplied)",
            "# TYPE deltasync_uploads_rejected_total counter",
            "deltasync_uploads_rejected_total \(counters.uploadsRejected)",
            "# TYPE deltasync_upload_bytes_discarded_total counter",
            "deltasync_upload_bytes_discarded_total \(counters.uploadBytesDiscarded)",
            "# TYPE deltasync_workspace_degraded gauge",
        ]
        let workspaces = try await storage.workspaces()
        for workspace in workspaces {
            let isDegraded = degraded.reason(workspace.key) != nil
            lines.append("deltasync_workspace_degraded{workspace=\"\(workspace.key)\"} \(isDegraded ? 1 : 0)")
        }
        lines.append("# TYPE deltasync_workspace_last_sequence gauge")
        for workspace in workspaces {
            lines.append("deltasync_workspace_last_sequence{workspace=\"\(workspace.key)\"} \(workspace.lastSequence)")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: lines.joined(separator: "\n") + "\n"))
        )
    }

    // MARK: - Helpers

    private func file(_ path: String, type: String, context: DeltaRequestContext) async throws -> Response {
        let size = (try? RawFile.open(reading: path).size()) ?? -1
        guard size >= 0 else { throw DeltaError(.notFound, "stored content is missing") }
        let body = try await FileIO().loadFile(path: path, context: context)
        return Response(
            status: .ok, headers: [.contentType: type, .contentLength: String(size)], body: body
        )
    }

    /// `workspace` (a name) or `workspace_path` from the query string.
    private func workspaceParameter(_ request: Request) throws -> (key: String, path: String?) {
        let query = request.uri.queryParameters
        let name = query["workspace"].map(String.init)
        let path = query["workspace_path"].map(String.init)
        let key = try WorkspaceIdentity.resolve(name: name, path: path)
        return (key, try path.flatMap { $0.isEmpty ? nil : try WorkspaceIdentity.normalise(path: $0) })
    }

    static func sequenceField(_ text: String?) throws -> Int64? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty, text != "null", text != "None"
        else {
            return nil
        }
        guard let value = Int64(text), value > 0 else {
            throw DeltaError(.invalidRequest, "sequence_number must be a positive integer, got '\(text.prefix(40))'")
        }
        return value
    }

    static func boolField(_ text: String?) throws -> Bool {
        switch text?.trimmingCharacters(in: .whitespaces) {
        case nil, "": return false
        case "true", "True", "TRUE", "1": return true
        case "false", "False", "FALSE", "0": return false
        case let other?:
            throw DeltaError(.invalidRequest, "force must be true/false/1/0, got '\(other.prefix(40))'")
        }
    }

    static func integer(_ text: String?, name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64
    {
        guard let text, !text.isEmpty else { return value }
        guard let parsed = Int64(text), range.contains(parsed) else {
            throw DeltaError(.invalidRequest, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }
}
