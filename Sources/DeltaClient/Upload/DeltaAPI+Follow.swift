import AsyncHTTPClient
public import DeltaCore
import Foundation
import NIOCore
import NIOHTTP1

extension DeltaAPI {
    /// `GET /api/v1/delta/changes?since=&limit=`; `410 HISTORY_COMPACTED` comes back as that error.
    public func changes(_ workspace: WorkspaceReference, since: Int64, limit: Int = 1000) async throws
        -> ChangesResponse
    {
        try await get(
            "/api/v1/delta/changes?\(workspace.query)&since=\(since)&limit=\(limit)", as: ChangesResponse.self)
    }

    /// Streams the blob with `sha256` into `path` (created 0600; the caller renames it into
    /// place). Returns its size.
    public func download(sha256: String, workspace: WorkspaceReference, to path: String) async throws -> Int64 {
        var request = HTTPClientRequest(url: baseURL + "/api/v1/delta/blobs/sha256:\(sha256)?\(workspace.query)")
        authorize(&request)
        let response = try await open(
            request, timeout: .nanoseconds(timeout.nanoseconds), endpoint: "/api/v1/delta/blobs")
        let file = try RawFile.create(path, mode: 0o600)
        var size: Int64 = 0
        do {
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { try file.write($0) }
                size += Int64(chunk.readableBytes)
            }
        } catch let error as DeltaError {
            throw error
        } catch {
            throw DeltaError(.network, Self.unreachable(baseURL, error), cause: error)
        }
        return size
    }

    /// `POST /api/v1/delta/blobs`: fetches many blobs in one tar stream, each written to a new
    /// file at the path and with the mode `stagingPath(hex)` gives. Returns hex → (file, size)
    /// for those the server sent; blobs it no longer holds are simply absent.
    public func downloadBlobs(
        _ sha256s: [String], workspace: WorkspaceReference,
        stagingPath: @Sendable (String) -> (path: String, mode: UInt32)
    ) async throws -> [String: (path: String, size: Int64)] {
        var request = HTTPClientRequest(url: baseURL + "/api/v1/delta/blobs?\(workspace.query)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "text/plain")
        request.body = .bytes(ByteBuffer(string: sha256s.joined(separator: "\n")))
        authorize(&request)
        let response = try await open(
            request, timeout: .nanoseconds(timeout.nanoseconds), endpoint: "/api/v1/delta/blobs")
        var reader = TarReader()
        var received: [String: (path: String, size: Int64)] = [:]
        var current: (hex: String, file: RawFile, path: String, size: Int64)?
        do {
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { bytes in
                    try reader.consume(bytes) { event in
                        switch event {
                        case .begin(let entry):
                            let hex = String(decoding: entry.name, as: UTF8.self)
                            guard entry.kind == .regular, (try? ContentHash(parsing: "sha256:" + hex)) != nil else {
                                throw DeltaError(.invalidRequest, "the server sent an unexpected blob entry '\(hex)'")
                            }
                            let (path, mode) = stagingPath(hex)
                            current = (hex, try RawFile.create(path, exactMode: mode_t(mode)), path, entry.size)
                        case .data(let data):
                            try current?.file.write(data)
                        case .end:
                            if let done = current { received[done.hex] = (done.path, done.size) }
                            current = nil
                        }
                    }
                }
            }
            guard reader.isFinished else {
                throw DeltaError(.network, "the blob stream from \(baseURL) ended early; it will be fetched again")
            }
        } catch {
            // Nothing half-received is left behind.
            for file in received.values { unlink(file.path) }
            if let current { unlink(current.path) }
            if let error = error as? DeltaError { throw error }
            throw DeltaError(.network, Self.unreachable(baseURL, error), cause: error)
        }
        return received
    }

    /// `GET /api/v1/delta/stream`, parsed into events as they arrive. Ends when the server ends
    /// the stream; throws on a dropped connection (reconnect with the last `id`).
    public func stream(_ workspace: WorkspaceReference, after sequence: Int64) async throws -> AsyncThrowingStream<
        ServerSentEvent, any Error
    > {
        var request = HTTPClientRequest(url: baseURL + "/api/v1/delta/stream?\(workspace.query)")
        request.headers.add(name: "last-event-id", value: String(sequence))
        request.headers.add(name: "accept", value: "text/event-stream")
        authorize(&request)
        // The deadline covers the whole body: far off for a stream.
        let response = try await open(request, timeout: .hours(24 * 365), endpoint: "/api/v1/delta/stream")
        let (events, continuation) = AsyncThrowingStream<ServerSentEvent, any Error>.makeStream()
        let reading = Task {
            var parser = ServerSentEventParser()
            do {
                for try await chunk in response.body {
                    for event in parser.feed(chunk.readableBytesView) { continuation.yield(event) }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in reading.cancel() }
        return events
    }

    /// Sends `request`; a reply other than 200 becomes the error it names.
    private func open(_ request: HTTPClientRequest, timeout: TimeAmount, endpoint: String) async throws
        -> HTTPClientResponse
    {
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(request, timeout: timeout)
        } catch {
            throw DeltaError(.network, Self.unreachable(baseURL, error), cause: error)
        }
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: 1 << 20)
            throw Self.failure(
                status: Int(response.status.code), data: Data(body.readableBytesView),
                retryAfter: response.headers.first(name: "retry-after").flatMap { Int64($0) },
                url: baseURL + endpoint)
        }
        return response
    }
}
