import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

extension FeedRoutes {
    /// `GET /api/v1/delta/stream`: Server-Sent Events, one `change` event per log entry, `id:` =
    /// its sequence. Resumes after `Last-Event-ID` (which wins) or `since`; neither starts from
    /// now. No gap and no duplicate: the subscription is taken first, the backlog read from the
    /// log after it, and every event is sent only if its sequence is past the cursor.
    func stream(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        let query = request.uri.queryParameters
        let resumeFrom = HTTPField.Name("Last-Event-ID").flatMap { request.headers[$0] }.flatMap {
            Int64($0.trimmingCharacters(in: .whitespaces))
        }
        let since =
            try resumeFrom
            ?? query["since"].map {
                try RouteParameters.integer(String($0), name: "since", default: 0, range: 0...Int64.max)
            }
        guard let subscription = publisher.subscribe(workspace: key) else {
            throw DeltaError(
                .serverBusy,
                "the server has \(configuration.maxSubscribers) stream subscribers already (--max-subscribers)",
                retryAfter: 5)
        }
        let record: WorkspaceRecord?
        do {
            record = try await storage.workspace(key)
            if let since { try Self.requireRetained(record, since: since) }
        } catch {
            subscription.end()
            throw error
        }
        let start = since ?? record?.lastSequence ?? 0
        let storage = self.storage
        let heartbeat = configuration.heartbeatSeconds
        let metrics = self.metrics
        let cache = self.events
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        if let buffering = HTTPField.Name("X-Accel-Buffering") { headers[buffering] = "no" }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let beats = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(Int64(heartbeat * 1000)))
                        subscription.heartbeat()
                    }
                }
                defer {
                    beats.cancel()
                    metrics.streamEnded(reason: subscription.didOverflow ? "overflow" : "closed")
                    subscription.end()
                }
                try await withGracefulShutdownHandler {
                    var cursor = start
                    try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                    cursor = try await Self.sendLog(
                        storage, key, after: cursor, to: &writer, metrics: metrics, cache: cache)
                    for await event in subscription {
                        switch event {
                        case .heartbeat:
                            try await writer.write(ByteBuffer(string: ": hb\n\n"))
                        case .committed(let notice) where notice.sequence == cursor + 1:
                            // The common case: the next entry, encoded once for every subscriber.
                            if let event = cache.event(workspace: key, sequence: notice.sequence) {
                                try await writer.write(event)
                                cursor = notice.sequence
                                metrics.streamEventsSent(1)
                            } else {
                                cursor = try await Self.sendLog(
                                    storage, key, after: cursor, to: &writer, metrics: metrics, cache: cache)
                            }
                        case .committed(let notice) where notice.sequence > cursor:
                            cursor = try await Self.sendLog(
                                storage, key, after: cursor, to: &writer, metrics: metrics, cache: cache)
                        case .committed:
                            break
                        }
                    }
                } onGracefulShutdown: {
                    subscription.end()
                }
                try await writer.finish(nil)
            }
        )
    }

    /// Sends every log entry after `cursor`, in pages; returns the new cursor.
    static func sendLog(
        _ storage: any WorkspaceLog, _ key: String, after cursor: Int64, to writer: inout any ResponseBodyWriter,
        metrics: ServerMetrics, cache: StreamEventCache
    ) async throws -> Int64 {
        var cursor = cursor
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        while true {
            let page = try await storage.changes(workspace: key, since: cursor, limit: 500)
            for change in page where change.sequence > cursor {
                let event: ByteBuffer
                if let cached = cache.event(workspace: key, sequence: change.sequence) {
                    event = cached
                } else {
                    let data = try encoder.encode(change.entry)
                    var text = "id: \(change.sequence)\nevent: change\ndata: "
                    text += String(decoding: data, as: UTF8.self)
                    text += "\n\n"
                    event = ByteBuffer(string: text)
                    cache.store(event, workspace: key, sequence: change.sequence)
                }
                try await writer.write(event)
                cursor = change.sequence
                metrics.streamEventsSent(1)
            }
            if page.count < 500 { return cursor }
        }
    }
}

/// The most recently encoded stream events, shared by every subscriber of this server, so a
/// commit announced to 1,000 subscribers is read from the log and encoded once, not 1,000 times.
/// Bounded (between the newest 1,024 and 2,048 events); a miss just reads the log.
final class StreamEventCache: Sendable {
    private struct Key: Hashable {
        var workspace: String
        var sequence: Int64
    }

    static let capacity = 1024
    private let state = Mutex<(events: [Key: ByteBuffer], order: [Key])>(([:], []))

    func event(workspace: String, sequence: Int64) -> ByteBuffer? {
        state.withLock { $0.events[Key(workspace: workspace, sequence: sequence)] }
    }

    func store(_ event: ByteBuffer, workspace: String, sequence: Int64) {
        let key = Key(workspace: workspace, sequence: sequence)
        state.withLock { state in
            guard state.events.updateValue(event, forKey: key) == nil else { return }
            state.order.append(key)
            // Trimmed in halves, so the cost per event stays constant.
            if state.order.count >= 2 * Self.capacity {
                for oldest in state.order.prefix(Self.capacity) { state.events.removeValue(forKey: oldest) }
                state.order.removeFirst(Self.capacity)
            }
        }
    }
}
