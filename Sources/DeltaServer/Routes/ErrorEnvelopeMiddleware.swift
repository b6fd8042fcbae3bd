import DeltaCore
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error, ours or the framework's (404, 405, 413 …), into the error envelope with a
/// real HTTP status. Upload rejections that leave body bytes unread also close the connection,
/// so a client streaming a huge body is not drained to the end.
struct ErrorEnvelopeMiddleware: RouterMiddleware {
    typealias Context = DeltaRequestContext
    let counters: ServerCounters

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as UploadRejection {
            counters.reject(error.error.code.rawValue)
            log(error.error, request: request, context: context)
            return JSONReply.error(error.error, closeConnection: error.bodyUnread)
        } catch let error as DeltaError {
            if request.uri.path.hasSuffix("/upload") { counters.reject(error.code.rawValue) }
            log(error, request: request, context: context)
            return JSONReply.error(error)
        } catch let error as HTTPError {
            let code: DeltaError.Code
            switch error.status {
            case .notFound: code = .notFound
            case .methodNotAllowed: code = .methodNotAllowed
            case .contentTooLarge: code = .bundleTooLarge
            case .unsupportedMediaType: code = .unsupportedMediaType
            case .unauthorized: code = .unauthorized
            case .forbidden: code = .forbidden
            default: code = error.status.code >= 500 ? .internalError : .invalidRequest
            }
            let message =
                error.body
                ?? (code == .notFound
                    ? "no such endpoint: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            return JSONReply.error(DeltaError(code, message))
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return JSONReply.error(DeltaError(.internalError, "internal error: \(error)"))
        }
    }

    private func log(_ error: DeltaError, request: Request, context: Context) {
        context.logger.info(
            "request rejected",
            metadata: [
                "error.code": "\(error.code)", "error.message": "\(error.message)", "path": "\(request.uri.path)",
            ]
        )
    }
}

/// An upload error, with whether the request body was left partly unread.
struct UploadRejection: Error {
    var error: DeltaError
    var bodyUnread: Bool
}
