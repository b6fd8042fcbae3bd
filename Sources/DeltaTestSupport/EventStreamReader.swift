public import AsyncHTTPClient
public import DeltaCore
import NIOCore
import NIOHTTP1
import Synchronization

/// A Server-Sent Events subscriber for tests: opens the stream, parses events as they arrive
/// and hands them out one at a time. `status` is the reply's HTTP status (the body of a
/// refusal is in `errorBody`). One consumer at a time.
public final class EventStreamReader: @unchecked Sendable {
    public let status: Int
    public let errorBody: [UInt8]
    private var iterator: AsyncThrowingStream<ServerSentEvent, any Error>.AsyncIterator
    private let reading: Task<Void, Never>?
    private let heartbeats = Counter()

    /// Comments (heartbeats) received so far.
    public var heartbeatCount: Int { heartbeats.value.load(ordering: .relaxed) }

    private final class Counter: Sendable { let value = Atomic<Int>(0) }

    public init(url: String, headers: [(String, String)] = [], client: HTTPClient = .shared) async throws {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        // The deadline covers the whole body: far off for a stream.
        let response = try await client.execute(request, timeout: .hours(24))
        status = Int(response.status.code)
        let (events, continuation) = AsyncThrowingStream<ServerSentEvent, any Error>.makeStream()
        iterator = events.makeAsyncIterator()
        guard status == 200 else {
            errorBody = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            continuation.finish()
            reading = nil
            return
        }
        errorBody = []
        let heartbeats = self.heartbeats
        reading = Task {
            var parser = ServerSentEventParser()
            do {
                for try await chunk in response.body {
                    for event in parser.feed(chunk.readableBytesView) { continuation.yield(event) }
                    heartbeats.value.store(parser.comments, ordering: .relaxed)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }

    /// The next event, or nil when the server ended the stream.
    public func next() async throws -> ServerSentEvent? {
        try await iterator.next()
    }

    /// The next `count` events of kind `event` (others skipped).
    public func next(_ count: Int, of event: String = "change") async throws -> [ServerSentEvent] {
        var found: [ServerSentEvent] = []
        while found.count < count, let next = try await next() {
            if next.event == event { found.append(next) }
        }
        return found
    }

    /// Drops the connection.
    public func close() { reading?.cancel() }

    deinit { reading?.cancel() }
}
