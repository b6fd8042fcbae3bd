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
