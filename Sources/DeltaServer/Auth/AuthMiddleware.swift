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
        // Public: the health probe and the page itself (its data needs the session cookie).
        if request.uri.path == "/health" || request.uri.path == "/" { return try await next(request, context) }
        var context = context
        context.authRequired = try await authority.isRequired()
        context.token = try await authority.resolve(authorization: request.headers[.authorization])
        // The page's session cookie stands in for the header on reads only: a cross-site form
        // can never write with it (and SameSite=Strict keeps other sites from sending it).
        if context.token == nil, request.method == .get || request.method == .head,
            let secret = Self.sessionCookie(request.headers[values: .cookie])
        {
            context.token = try await authority.resolve(secret)
        }
        return try await next(request, context)
    }

    static func sessionCookie(_ headers: [String]) -> String? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == WorkspaceRoutes.cookieName {
                    let value = parts[1].trimmingCharacters(in: .whitespaces)
                    return value.isEmpty ? nil : value
                }
            }
        }
        return nil
    }
}
