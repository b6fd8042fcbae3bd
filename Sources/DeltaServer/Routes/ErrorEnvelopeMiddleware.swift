import DeltaCore
import HTTPTypes
import Hummingbird
import Foundation
import Logging
import NIOCore
import NIOHTTP1

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
        } catch let error as DeltaError where error.code == .internalError || error.code == .io {
            return internalError(error, request: request, context: context)
        } catch let error as DeltaError {
            if request.uri.path.hasSuffix("/upload") { counters.reject(error.code.rawValue) }
            log(error, request: request, context: context)
            // A rejected POST may have left its body unread (a 401 from the auth middleware comes
            // before the handler reads anything): close, with a bounded linger, never drain it.
            return JSONReply.error(error, closeConnection: request.method == .post)
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
            return JSONReply.error(DeltaError(code, message), closeConnection: request.method == .post)
        } catch let error as HTTPParserError {
            // A malformed request (bad chunk size, …) seen while its body streamed in: the client's fault.
            log(DeltaError(.invalidRequest, "\(error)"), request: request, context: context)
            return JSONReply.error(
                DeltaError(.invalidRequest, "malformed HTTP request (\(error))"), closeConnection: true)
        } catch let error as NIOTooManyBytesError {
            _ = error
            return JSONReply.error(DeltaError(.bundleTooLarge, "request body too large"), closeConnection: true)
        } catch {
            return internalError(error, request: request, context: context)
        }
    }

    /// Internal details (paths, database text) go to the log only; the client gets a stable
    /// code and a reference to find the log line.
    private func internalError(_ error: any Error, request: Request, context: Context) -> Response {
        let reference = UUID().uuidString.prefix(8).lowercased()
        context.logger.error(
            "request failed",
            metadata: ["error": "\(error)", "path": "\(request.uri.path)", "error.reference": "\(reference)"]
        )
        let code = (error as? DeltaError)?.code ?? .internalError
        return JSONReply.error(
            DeltaError(code, "internal error (reference \(reference); details are in the server log)"))
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
