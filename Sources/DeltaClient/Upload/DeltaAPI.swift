import AsyncHTTPClient
public import DeltaCore
import Foundation
import NIOCore
import NIOHTTP1

/// The server's HTTP API as the client uses it. Errors come back as `DeltaError` carrying the
/// server's `error.code`, the HTTP status (`httpStatus`) and any `Retry-After` (`retryAfter`),
/// with a message that names the endpoint and what to do.
public struct DeltaAPI: Sendable {
    public var baseURL: String
    public var token: String?
    public var timeout: Duration

    public init(baseURL: String, token: String?, timeout: Duration = .seconds(120)) {
        var trimmed = baseURL
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.baseURL = trimmed
        self.token = token
        self.timeout = timeout
    }

    public func status(_ workspace: WorkspaceReference) async throws -> StatusResponse {
        try await get("/api/v1/delta/status?" + workspace.query, as: StatusResponse.self)
    }

    public func manifest(_ workspace: WorkspaceReference) async throws -> ManifestResponse {
        try await get("/api/v1/delta/manifest?" + workspace.query, as: ManifestResponse.self) { body in
            try? ManifestJSON.decode(Array(body))
        }
    }

    /// What an upload came to.
    public enum UploadOutcome: Sendable {
        case applied(UploadResponse)
        case sequenceMismatch(expected: Int64)
    }

    /// Streams the bundle at `path` as `multipart/form-data`; a ``BundleSources`` list is sent as
    /// the uncompressed bundle it makes. Throws `CHANGED_WHILE_BUNDLING` when a file a list names
    /// changed since: the upload stops before the bundle is whole, so the server takes none of it.
    public func upload(
        bundleAt path: String, workspace: WorkspaceReference, sequence: Int64?, force: Bool = false,
        previousBundleID: String? = nil, progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> UploadOutcome {
        let isSourceList = path.hasSuffix(BundleSources.fileExtension)
        let size: Int64
        if isSourceList {
            guard let bundleSize = BundleSources.bundleSize(ofListAt: path) else {
                throw DeltaError(.internalError, "\(path) is not a whole bundle source list")
            }
            size = bundleSize
        } else {
            size = try RawFile.open(reading: path).size()
        }
        let boundary = "deltasync-" + UUID().uuidString
        var head = ""
        var fields = workspace.fields
        if let sequence { fields.append(("sequence_number", String(sequence))) }
        if force { fields.append(("force", "true")) }
        if let previousBundleID { fields.append(("previous_bundle_id", previousBundleID)) }
        for (name, value) in fields {
            head += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        let format: BundleFormat = isSourceList || path.hasSuffix(BundleFormat.tar.fileExtension) ? .tar : .tarGz
        head += "--\(boundary)\r\nContent-Disposition: form-data; name=\"bundle\"; "
        head += "filename=\"bundle\(format.fileExtension)\"\r\nContent-Type: \(format.contentType)\r\n\r\n"
        let tail = "\r\n--\(boundary)--\r\n"
        var request = HTTPClientRequest(url: baseURL + "/api/v1/delta/upload")
        request.method = .POST
        request.headers.add(name: "content-type", value: "multipart/form-data; boundary=\(boundary)")
        authorize(&request)
        if !isSourceList, size <= Self.inlineBodyLimit {
            // A save's bundle: read whole and handed over with the request, which then goes out
            // at once. Streamed, its bytes waited for a hop to a task after the request's head
            // had gone (about 1 ms of the save → server path).
            request.body = .bytes(try MultipartFileBody.whole(head: head, path: path, size: size, tail: tail))
            progress?(size)
        } else {
            let body = MultipartFileBody(
                head: Array(head.utf8), path: path, isSourceList: isSourceList, tail: Array(tail.utf8),
                progress: progress)
            request.body = .stream(body, length: .known(Int64(head.utf8.count + tail.utf8.count) + size))
        }
        do {
            return .applied(try await send(request, endpoint: "/api/v1/delta/upload", as: UploadResponse.self))
        } catch let error as DeltaError where error.code == .sequenceMismatch {
            guard let expected = error.details["expected_sequence"]?.intValue else { throw error }
            return .sequenceMismatch(expected: expected)
        }
    }

    /// Bundles up to this size are sent from memory in one piece rather than streamed.
    static let inlineBodyLimit: Int64 = 1 << 20

    // MARK: - Plumbing

    /// One client for the process. A refused connection fails at once instead of being retried
    /// inside AsyncHTTPClient until the deadline: `RetryPolicy` decides when to try again, and
    /// `status` answers promptly when the server is down.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// `fast`, when given, reads the reply first (a large document `JSONDecoder` is slow on);
    /// when it answers nil, `JSONDecoder` does.
    func get<T: Decodable>(_ path: String, as type: T.Type, fast: ((Data) -> T?)? = nil) async throws -> T {
        var request = HTTPClientRequest(url: baseURL + path)
        authorize(&request)
        return try await send(request, endpoint: String(path.prefix { $0 != "?" }), as: type, fast: fast)
    }

    func authorize(_ request: inout HTTPClientRequest) {
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
    }

    /// Error replies are small: a larger body is not read as a `{"success": false}` envelope.
    static let largestErrorReply = 64 << 10

    private func send<T: Decodable>(
        _ request: HTTPClientRequest, endpoint: String, as type: T.Type, fast: ((Data) -> T?)? = nil
    ) async throws -> T {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await Self.client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            body = try await response.body.collect(upTo: 1 << 30)
        } catch let error as DeltaError where error.code == .changedWhileBundling {
            // The body stopped itself: a file a source list names changed.
            throw error
        } catch {
            throw DeltaError(.network, Self.unreachable(baseURL, error), cause: error)
        }
        let data = Data(body.readableBytesView)
        let status = Int(response.status.code)
        let retryAfter = response.headers.first(name: "retry-after").flatMap { Int64($0) }
        // Deployed servers answer `200 {"success": false}` for errors: treat it as the error it names.
        if !(200..<300).contains(status)
            || (data.count <= Self.largestErrorReply
                && (try? JSONDecoder().decode(ErrorEnvelope.self, from: data))?.success == false)
        {
            throw Self.failure(status: status, data: data, retryAfter: retryAfter, url: baseURL + endpoint)
        }
        if let fast, let value = fast(data) { return value }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw DeltaError(
                .invalidRequest,
                "\(baseURL + endpoint) answered something that is not a DeltaSync or compatible upload-service "
                    + "reply (\(String(decoding: data.prefix(120), as: UTF8.self))): is --server the right URL?",
                httpStatus: status)
        }
    }
}

extension DeltaAPI {
    /// The error a reply names (its envelope, else its status), explained.
    static func failure(status: Int, data: Data, retryAfter: Int64?, url: String) -> DeltaError {
        if let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: data), !envelope.success {
            var error = envelope.deltaError
            error.httpStatus = status
            error.retryAfter = retryAfter ?? error.retryAfter
            error.message = explain(error, url: url)
            return error
        }
        let code: DeltaError.Code =
            switch status {
            case 401: .unauthorized
            case 403: .forbidden
            case 404: .notFound
            case 405: .methodNotAllowed
            case 410: .historyCompacted
            case 413: .bundleTooLarge
            case 429: .rateLimited
            case 500...: .internalError
            default: .invalidRequest
            }
        var error = DeltaError(code, "HTTP \(status)", httpStatus: status, retryAfter: retryAfter)
        error.message = explain(error, url: url)
        return error
    }

    /// The server's message made into one sentence naming the endpoint and the likely fix, for
    /// the errors a person can do something about.
    static func explain(_ error: DeltaError, url: String) -> String {
        let said = error.message.isEmpty ? "" : ": \(error.message)"
        let status = error.httpStatus.map { "HTTP \($0) " } ?? ""
        switch error.code {
        case .unauthorized:
            return "\(url) refused the credentials (\(status)\(error.code))\(said). "
                + "Set DELTASYNC_TOKEN or --token-file to a token the server accepts (deltasync token create)"
        case .forbidden:
            return "\(url) does not let this token do that (\(status)\(error.code))\(said). "
                + "Use a token scoped to this workspace, or check --workspace"
        case .bundleTooLarge, .uncompressedTooLarge, .fileTooLarge, .tooManyEntries:
            return "\(url) refused a bundle as too large (\(status)\(error.code))\(said). "
                + "Raise the server's limit (deltasync serve --max-bundle-size-mb and the other limits) or exclude large files "
                + "in .deltasyncignore"
        case .notFound where error.httpStatus == 404 && error.message == "HTTP 404":
            return "\(url) does not exist on this server (HTTP 404): is --server the DeltaSync or upload-service URL?"
        default:
            if error.message.hasPrefix("HTTP ") {
                return "\(url) answered \(error.message) without an error body: is --server the right URL?"
            }
            return "\(url): \(error.message) (\(status)\(error.code))"
        }
    }

    /// One sentence a person can act on, naming the URL, what went wrong and the likely fix.
    static func unreachable(_ baseURL: String, _ error: any Error) -> String {
        let text = String(describing: error)
        let reason: String
        let fix: String
        if text.contains("Connection refused") || text.contains("errno: 111") {
            reason = "connection refused"
            fix = "is 'deltasync serve' running there, and is --server (or REMOTE_UPLOAD_ENDPOINT) right?"
        } else if text.contains("connectTimeout") || text.contains("Timeout") || text.contains("deadlineExceeded") {
            reason = "no answer in time"
            fix = "is the address right and the server reachable from here?"
        } else if text.contains("DNS error") || text.contains("UnknownHost") || text.contains("NXDOMAIN")
            || text.contains("getaddrinfo")
        {
            reason = "the host name does not resolve"
            fix = "check the host in --server"
        } else if text.contains("SSL") || text.contains("TLS") || text.contains("handshake")
            || text.contains("certificate")
        {
            reason = "the TLS handshake failed"
            fix = "check https:// versus http:// in --server and the server's certificate"
        } else if text.contains("remoteConnectionClosed") || text.contains("closed") || text.contains("reset") {
            reason = "the connection was closed before the reply"
            fix = "the server may have restarted or dropped the request; run again"
        } else {
            reason = text
            fix = "check --server and that the server is running"
        }
        return "cannot reach \(baseURL) (\(reason)): \(fix)"
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}

/// Multipart framing around a bundle, read in chunks as the client sends it: a file's bytes, or
/// those a ``BundleSources`` list makes.
struct MultipartFileBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let head: [UInt8]
    let path: String
    let isSourceList: Bool
    let tail: [UInt8]
    let progress: (@Sendable (Int64) -> Void)?

    static let chunkSize = 256 * 1024

    /// The whole body at once: `head`, the `size` bytes of the file at `path`, `tail`. A file
    /// that is not `size` bytes long now (changed since it was measured) is an error.
    static func whole(head: String, path: String, size: Int64, tail: String) throws -> ByteBuffer {
        let content = try FileSystem.readAll(path, limit: Int(size))
        guard content.count == Int(size) else {
            throw DeltaError(.internalError, "\(path) is shorter than the \(size) bytes it had a moment ago")
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(head.utf8.count + content.count + tail.utf8.count)
        buffer.writeString(head)
        buffer.writeBytes(content)
        buffer.writeString(tail)
        return buffer
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        enum Stage { case head, file, tail, done }
        var stage = Stage.head
        let body: MultipartFileBody
        var read: ((UnsafeMutableRawBufferPointer) throws -> Int)?

        mutating func next() async throws -> ByteBuffer? {
            switch stage {
            case .head:
                stage = .file
                if body.isSourceList {
                    let stream = try BundleSourceStream(path: body.path)
                    read = { try stream.read(into: $0) }
                } else {
                    let file = try RawFile.open(reading: body.path)
                    read = { try file.read(into: $0) }
                }
                return ByteBuffer(bytes: body.head)
            case .file:
                var buffer = ByteBuffer()
                let size = MultipartFileBody.chunkSize
                buffer.reserveCapacity(size)
                let read = self.read
                let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
                    (try read?(UnsafeMutableRawBufferPointer(rebasing: raw.prefix(size)))) ?? 0
                }
                if count == 0 {
                    stage = .tail
                    self.read = nil
                    return try await next()
                }
                body.progress?(Int64(count))
                return buffer
            case .tail:
                stage = .done
                return ByteBuffer(bytes: body.tail)
            case .done:
                return nil
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}
