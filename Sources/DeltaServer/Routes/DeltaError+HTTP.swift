import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird

extension DeltaError.Code {
    /// The one place error codes become HTTP statuses.
    var httpStatus: HTTPResponse.Status {
        switch self {
        case .bundleTooLarge, .uncompressedTooLarge, .fileTooLarge, .tooManyEntries: return .contentTooLarge
        case .contentMissing, .hashMismatch: return .unprocessableContent
        case .sequenceMismatch, .bundleIDConflict, .pathConflict: return .conflict
        case .historyCompacted: return .gone
        case .notFound, .pathNotFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .unsupportedMediaType: return .unsupportedMediaType
        case .requestTimeout: return .requestTimeout
        case .rateLimited: return .tooManyRequests
        case .notReady, .serverBusy, .workspaceDegraded: return .serviceUnavailable
        case .insufficientStorage: return .init(code: 507, reasonPhrase: "Insufficient Storage")
        case .internalError, .io: return .internalServerError
        default: return .badRequest
        }
    }
}

/// JSON replies.
enum JSONReply {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        encoded(try encoder.encode(value), status: status)
    }

    /// A reply of JSON already written (by a hand-written coder such as `ManifestJSON`).
    static func encoded(_ json: some Sequence<UInt8>, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: json))
        )
    }

    static func error(_ error: DeltaError, closeConnection: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if closeConnection { headers[.connection] = "close" }
        if error.code == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let seconds = error.retryAfter { headers[.retryAfter] = String(seconds) }
        let data = (try? encoder.encode(ErrorEnvelope(error))) ?? Data("{\"success\":false}".utf8)
        return Response(
            status: error.code.httpStatus, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
