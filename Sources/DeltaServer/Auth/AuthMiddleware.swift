import DeltaCore
import Foundation
import Hummingbird

/// Resolves `Authorization: Bearer` into the context and decides whether this request needs a
/// token at all. Handlers then check scope against the workspace they act on (the workspace of
/// an upload is only known once its form has been read, and `session` may carry the token).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = DeltaRequestContext
    let authority: TokenAuthority

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if request.uri.path == "/health" { return try await next(request, context) }
        var context = context
        context.authRequired = try await authority.isRequired()
        context.token = try await authority.resolve(authorization: request.headers[.authorization])
        return try await next(request, context)
    }
}
