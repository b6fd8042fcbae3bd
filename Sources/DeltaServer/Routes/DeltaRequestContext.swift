public import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Per-request context: Hummingbird's core storage plus the bearer token the auth middleware
/// resolved (if any) and whether this server requires one.
public struct DeltaRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The token presented in `Authorization: Bearer`, already looked up.
    var token: TokenRecord?
    /// Whether requests must carry a token (any token exists, or the server is off loopback).
    var authRequired = false
    /// The connection, for the interim `100 Continue` reply.
    let channel: any Channel

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

extension DeltaRequestContext {
    /// Answers `Expect: 100-continue` once the request head has passed every check a handler
    /// makes before reading the body (size from `Content-Length`, the bearer token, the upload
    /// gate, free space): the client then sends the body at once instead of waiting (curl waits
    /// a second). A request that fails those checks gets its final 4xx instead, and the client
    /// never sends the body.
    func sendContinueIfExpected(_ request: Request) {
        guard request.headers[.expect]?.lowercased() == "100-continue" else { return }
        channel.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .continue)), promise: nil)
    }
}

extension DeltaRequestContext {
    /// The one authorisation check every handler makes: the request's token may act on
    /// `workspace` with `scope` (nothing to check when the server requires no token).
    func authorize(workspace: String, scope: TokenRecord.Scope) throws {
        try TokenAuthority.authorize(token, required: authRequired, workspace: workspace, scope: scope)
    }

    /// The workspace a GET names (`workspace` or `workspace_path`), once the token may act on it.
    func workspace(of request: Request, scope: TokenRecord.Scope) throws -> (key: String, path: String?) {
        let named = try RouteParameters.workspace(request)
        try authorize(workspace: named.key, scope: scope)
        return named
    }
}
