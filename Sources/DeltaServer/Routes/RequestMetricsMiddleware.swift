import DeltaCore
import Hummingbird

/// Counts every request and times it, by method, route template and status
/// (`deltasync_http_requests_total`, `deltasync_http_request_duration_seconds`). Streams are
/// timed until their head is sent.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = DeltaRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let started = ContinuousClock.now
        let route = Self.route(request.uri.path)
        do {
            let response = try await next(request, context)
            metrics.requestFinished(
                method: request.method.rawValue, route: route, status: response.status.code,
                duration: started.duration(to: .now))
            return response
        } catch {
            let status =
                (error as? DeltaError)?.code.httpStatus.code ?? (error as? HTTPError)?.status.code ?? 500
            metrics.requestFinished(
                method: request.method.rawValue, route: route, status: status, duration: started.duration(to: .now))
            throw error
        }
    }

    /// The route template, so label values stay few (`/api/v1/delta/blobs/{hash}`).
    static func route(_ path: String) -> String {
        for prefix in ["/api/v1/delta/bundles/", "/api/v1/delta/blobs/"] where path.hasPrefix(prefix) {
            return prefix + (prefix.hasSuffix("bundles/") ? "{sequence}" : "{hash}")
        }
        let known = [
            "/", "/health", "/metrics", "/api/v1/delta/status", "/api/v1/delta/upload", "/api/v1/delta/recover",
            "/api/v1/delta/manifest", "/api/v1/delta/changes", "/api/v1/delta/stream", "/api/v1/workspaces",
            "/api/v1/session",
        ]
        return known.contains(path) ? path : "other"
    }
}
