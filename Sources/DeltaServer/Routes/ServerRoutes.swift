import CoreMetrics
import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Server-wide routes: `/health` (anyone; details for a global admin) and `/metrics`.
struct ServerRoutes: Sendable {
    let storage: any DeltaStorage
    let configuration: ServerConfiguration
    let counters: ServerCounters
    let authority: TokenAuthority
    let degraded: DegradedWorkspaces
    let publisher: any ChangePublisher

    static let version = "0.1.0"

    func register(on router: Router<DeltaRequestContext>) {
        router.get("/health") { request, context in try await health(request, context) }
        router.get("/metrics") { _, context in try await metrics(context) }
    }

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
            "version": .string(ServerRoutes.version),
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

    func metrics(_ context: DeltaRequestContext) async throws -> Response {
        if context.authRequired, let token = context.token, token.workspace != "*", token.scope.allows(.admin) {
            throw DeltaError(
                .forbidden,
                "/metrics covers every workspace, so it needs an admin token for '*'; this admin token is scoped to "
                    + "workspace '\(token.workspace)' (create one with 'deltasync token create --workspace \"*\" --scope admin')"
            )
        }
        try context.authorize(workspace: "*", scope: .admin)
        // Gauges that describe the present are set at scrape time; counters and timers are
        // recorded where things happen.
        let metrics = counters.metrics
        for workspace in try await storage.workspaces() {
            let labels = [("workspace", workspace.key)]
            metrics.gauge("deltasync_workspace_degraded", labels).record(degraded.reason(workspace.key) != nil ? 1 : 0)
            metrics.gauge("deltasync_workspace_last_sequence", labels).record(workspace.lastSequence)
        }
        metrics.gauge("deltasync_stream_subscribers").record(publisher.subscriberCount)
        metrics.gauge("deltasync_uploads_waiting").record(counters.uploadsWaiting)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render()))
        )
    }

}
