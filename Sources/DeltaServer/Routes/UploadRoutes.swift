import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Logging
import NIOCore
import NIOHTTP1

/// The compatible core's write side: `status`, `upload` and `recover` under `/api/v1/delta`.
struct UploadRoutes: Sendable {
    let storage: any WorkspaceLog & FileTableStore
    let applier: BundleApplier
    let receiver: UploadReceiver
    let configuration: ServerConfiguration
    let authority: TokenAuthority
    let gate: UploadGate
    let degraded: DegradedWorkspaces
    let indexer: GraphIndexer

    func register(on api: RouterGroup<DeltaRequestContext>) {
        api.get("/status") { request, context in try await status(request, context) }
        api.post("/upload") { request, context in try await upload(request, context) }
        api.post("/recover") { request, context in try await recover(request, context) }
    }

    var serverInfo: ServerInfo {
        ServerInfo(
            version: ServerRoutes.version, limits: configuration.limits,
            maxConcurrentUploads: configuration.maxConcurrentUploads)
    }

    func status(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, path) = try context.workspace(of: request, scope: .read)
        let record = try await storage.workspace(key)
        let files = record == nil ? 0 : try await storage.fileCount(workspace: key)
        let progress = record.map { indexer.progress(of: $0) }
        let response = StatusResponse(
            workspace: key, workspacePath: path ?? record?.workspacePath,
            collectionName: record?.collectionName ?? WorkspaceIdentity.collectionName(forPath: path ?? key),
            lastSequence: record?.lastSequence ?? 0, lastUpload: record?.lastUpload,
            pendingOperations: progress?.pendingOperations ?? 0, indexedSequence: record?.indexedSequence ?? 0,
            indexStatus: progress?.status ?? "none", status: "ready", fileCount: files,
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
        let arrived = ContinuousClock.now
        let authority = self.authority
        let order = applier.order
        // Registered once its fields are read, so a second upload in flight to the workspace
        // knows to wait for this one; released when it has been applied or refused.
        let ticket = Mutex<UploadOrder.Ticket?>(nil)
        defer { ticket.withLock { $0 }.map(order.leave) }
        // Checked when the bundle part begins, before a byte of it is spooled: the bearer token
        // (already resolved by the middleware) or the `session` field among the capped fields
        // that came before it.
        let received = try await receiver.receive(request, context: context) { fields in
            let token = try await Self.uploadToken(context.token, fields: fields, authority: authority)
            let key = try? WorkspaceIdentity.resolve(name: fields["workspace"], path: fields["workspace_path"])
            if let key {
                try TokenAuthority.authorize(token, required: context.authRequired, workspace: key, scope: .write)
                if let sequence = try? RouteParameters.sequenceField(fields["sequence_number"]) {
                    ticket.withLock { $0 = order.enter(workspace: key, sequence: sequence) }
                }
            } else if context.authRequired {
                // The workspace fields may follow the bundle; the scope can be checked already.
                try TokenAuthority.authorizeScope(token, scope: .write)
            }
        }
        // The apply takes the streamed bundle's spool files over; until it does, they are ours.
        var applying = false
        defer {
            if applying {
                unlink(received.bundlePath)
                if let streamed = received.streamed { unlink(streamed.recipePath) }
            } else {
                received.discard()
            }
        }
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
            sequenceNumber: try RouteParameters.sequenceField(fields["sequence_number"]),
            force: try RouteParameters.boolField(fields["force"]),
            bundlePath: received.bundlePath, bundleSHA256: received.bundleSHA256, bundleSize: received.bundleSize,
            previousBundleID: fields["previous_bundle_id"].flatMap { $0.isEmpty ? nil : $0 },
            ticket: ticket.withLock { $0 }, streamed: received.streamed, arrived: arrived
        )
        applying = true
        return try JSONReply.make(try await applier.apply(upload))
    }

    func recover(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let body = try await RouteParameters.smallBody(
            request, context, limit: 1 << 20,
            tooLarge: DeltaError(.bundleTooLarge, "recover takes a JSON body of at most 1 MiB"))
        let input: RecoverRequest
        do {
            input = try JSONDecoder().decode(RecoverRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw DeltaError(
                .invalidRequest, "recover needs a JSON body {\"workspace_path\", \"from_sequence\", \"to_sequence\"}")
        }
        let key = try WorkspaceIdentity.resolve(name: input.workspace, path: input.workspacePath)
        try context.authorize(workspace: key, scope: .read)
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

}
