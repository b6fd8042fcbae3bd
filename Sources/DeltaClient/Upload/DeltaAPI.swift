import AsyncHTTPClient
public import DeltaCore
import Foundation
import NIOCore
import NIOHTTP1

/// The server's HTTP API as the client uses it. Errors come back as `DeltaError` carrying the
/// server's `error.code`, the HTTP status (`http_status`) and any `Retry-After`.
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
        try await get("/api/v1/delta/manifest?" + workspace.query, as: ManifestResponse.self)
    }

    /// What an upload came to.
    public enum UploadOutcome: Sendable {
        case applied(UploadResponse)
        case sequenceMismatch(expected: Int64)
    }

    /// Streams the bundle at `path` as `multipart/form-data`.
    public func upload(
        bundleAt path: String, workspace: WorkspaceReference, sequence: Int64?,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> UploadOutcome {
        let size = try RawFile.open(reading: path).size()
        let boundary = "deltasync-" + UUID().uuidString
        var head = ""
        var fields = workspace.fields
        if let sequence { fields.append(("sequence_number", String(sequence))) }
        for (name, value) in fields {
            head += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        head += "--\(boundary)\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"bundle.tar.gz\"\r\n"
        head += "Content-Type: application/gzip\r\n\r\n"
        let tail = "\r\n--\(boundary)--\r\n"
        let body = MultipartFileBody(head: Array(head.utf8), path: path, tail: Array(tail.utf8), progress: progress)
        var request = HTTPClientRequest(url: baseURL + "/api/v1/delta/upload")
        request.method = .POST
        request.headers.add(name: "content-type", value: "multipart/form-data; boundary=\(boundary)")
        authorize(&request)
        request.body = .stream(body, length: .known(Int64(head.utf8.count + tail.utf8.count) + size))
        do {
            return .applied(try await send(request, as: UploadResponse.self))
        } catch let error as DeltaError where error.code == .sequenceMismatch {
            guard let expected = error.details["expected_sequence"]?.intValue else { throw error }
            return .sequenceMismatch(expected: expected)
        }
    }

    // MARK: - Plumbing

    /// One client for the process. A refused connection fails at once instead of being retried
    /// inside AsyncHTTPClient until the deadline: `RetryPolicy` decides when to try again, and
    /// `status` answers promptly when the server is down.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    private func get<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
        var request = HTTPClientRequest(url: baseURL + path)
        authorize(&request)
        return try await send(request, as: type)
    }

    private func authorize(_ request: inout HTTPClientRequest) {
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
    }

    private func send<T: Decodable>(_ request: HTTPClientRequest, as type: T.Type) async throws -> T {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await Self.client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            body = try await response.body.collect(upTo: 1 << 30)
        } catch {
            throw DeltaError(.network, Self.unreachable(baseURL, error), cause: error)
        }
        let data = Data(body.readableBytesView)
        let status = Int(response.status.code)
        // Deployed servers answer `200 {"success": false}` for errors: treat it as the error it names.
        if let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: data), !envelope.success {
            var error = envelope.deltaError
            error.details["http_status"] = .int(Int64(status))
            if let retryAfter = response.headers.first(name: "retry-after").flatMap({ Int64($0) }) {
                error.details["retry_after"] = .int(retryAfter)
            }
            throw error
        }
        guard (200..<300).contains(status) else {
            let code: DeltaError.Code = status == 429 ? .rateLimited : status >= 500 ? .internalError : .invalidRequest
            var error = DeltaError(
                code, "server answered HTTP \(status)", details: ["http_status": .int(Int64(status))])
            if let retryAfter = response.headers.first(name: "retry-after").flatMap({ Int64($0) }) {
                error.details["retry_after"] = .int(retryAfter)
            }
            throw error
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw DeltaError(
                .invalidRequest,
                "unexpected reply from \(baseURL): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }
}

extension DeltaAPI {
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
        } else if text.contains("NXDOMAIN") || text.contains("getaddrinfo") || text.contains("unknownHost")
            || text.contains("lookup")
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

/// Multipart framing around a file, read in chunks as the client sends it.
struct MultipartFileBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let head: [UInt8]
    let path: String
    let tail: [UInt8]
    let progress: (@Sendable (Int64) -> Void)?

    struct AsyncIterator: AsyncIteratorProtocol {
        enum Stage { case head, file, tail, done }
        var stage = Stage.head
        let body: MultipartFileBody
        var file: RawFile?

        mutating func next() async throws -> ByteBuffer? {
            switch stage {
            case .head:
                stage = .file
                file = try RawFile.open(reading: body.path)
                return ByteBuffer(bytes: body.head)
            case .file:
                var buffer = ByteBuffer()
                buffer.reserveCapacity(256 * 1024)
                let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 256 * 1024) { raw in
                    (try file?.read(into: UnsafeMutableRawBufferPointer(rebasing: raw.prefix(256 * 1024)))) ?? 0
                }
                if count == 0 {
                    stage = .tail
                    file = nil
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
