public import Hummingbird

/// Per-request context: Hummingbird's core storage plus the bearer token the auth middleware
/// resolved (if any) and whether this server requires one.
public struct DeltaRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The token presented in `Authorization: Bearer`, already looked up.
    var token: TokenRecord?
    /// Whether requests must carry a token (any token exists, or the server is off loopback).
    var authRequired = false

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }
}
