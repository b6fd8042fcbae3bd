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
                            // The first subscriber to ask reads it; the others wait for that read.
                            if let event = try await cache.event(
                                workspace: key, sequence: notice.sequence,
                                load: { try await Self.loadEvent(storage, key, sequence: notice.sequence) })
                            {
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

    /// One SSE `change` event: `id:`, `event:` and the entry's JSON as `data:`.
    static func encode(_ entry: ChangeEntry, sequence: Int64) -> ByteBuffer {
        let json = ChangeJSON.encode(entry)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(json.count + 40)
        buffer.writeString("id: \(sequence)\nevent: change\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// Reads and encodes the log entry `sequence`; nil if the log has none.
    static func loadEvent(_ storage: any WorkspaceLog, _ key: String, sequence: Int64) async throws -> ByteBuffer? {
        guard let change = try await storage.changes(workspace: key, since: sequence - 1, limit: 1).first,
            change.sequence == sequence
        else { return nil }
        return encode(change.entry, sequence: sequence)
    }

    /// Sends every log entry after `cursor`, in pages; returns the new cursor.
    static func sendLog(
        _ storage: any WorkspaceLog, _ key: String, after cursor: Int64, to writer: inout any ResponseBodyWriter,
        metrics: ServerMetrics, cache: StreamEventCache
    ) async throws -> Int64 {
        var cursor = cursor
        while true {
            let page = try await storage.changes(workspace: key, since: cursor, limit: 500)
            for change in page where change.sequence > cursor {
                let event: ByteBuffer
                if let cached = await cache.completed(workspace: key, sequence: change.sequence) {
                    event = cached
                } else {
                    event = Self.encode(change.entry, sequence: change.sequence)
                    cache.store(event, workspace: key, sequence: change.sequence)
                }
                try await writer.write(event)
                cursor = change.sequence
            }
            metrics.streamEventsSent(page.count)
            if page.count < 500 { return cursor }
        }
    }
}

/// The most recently encoded stream events, shared by every subscriber of this server, so a
/// commit announced to 1,000 subscribers is read from the log and encoded once, not 1,000 times:
/// the first subscriber to ask starts the read and the others await the same one. Bounded
/// (between the newest 1,024 and 2,048 events); a miss or a failed read just reads the log.
final class StreamEventCache: Sendable {
    private struct Key: Hashable {
        var workspace: String
        var sequence: Int64
    }

    /// An event encoded at commit is ready at once: a subscriber woken by the commit takes it
    /// without awaiting a task (which would first have to be scheduled). One read from the log
    /// is shared while it runs.
    private enum Entry {
        case ready(ByteBuffer)
        case loading(Task<ByteBuffer?, any Error>)
    }

    static let capacity = 1024
    private let state = Mutex<(events: [Key: Entry], order: [Key])>(([:], []))

    /// The event for `sequence`, loaded by `load` unless another subscriber already did or is
    /// doing it. Nil when the log has no such entry (the caller reads the log itself).
    func event(
        workspace: String, sequence: Int64, load: @escaping @Sendable () async throws -> ByteBuffer?
    ) async throws -> ByteBuffer? {
        let key = Key(workspace: workspace, sequence: sequence)
        let entry = state.withLock { state in
            if let existing = state.events[key] { return existing }
            let started = Entry.loading(Task { try await load() })
            Self.insert(started, for: key, into: &state)
            return started
        }
        switch entry {
        case .ready(let event):
            return event
        case .loading(let task):
            do {
                if let event = try await task.value { return event }
                forget(key)
                return nil
            } catch {
                forget(key)
                throw error
            }
        }
    }

    /// The event if it is cached (or being read), without starting a read.
    func completed(workspace: String, sequence: Int64) async -> ByteBuffer? {
        switch state.withLock({ $0.events[Key(workspace: workspace, sequence: sequence)] }) {
        case .ready(let event): return event
        case .loading(let task): return (try? await task.value) ?? nil
        case nil: return nil
        }
    }

    func store(_ event: ByteBuffer, workspace: String, sequence: Int64) {
        let key = Key(workspace: workspace, sequence: sequence)
        state.withLock { state in
            guard state.events[key] == nil else { return }
            Self.insert(.ready(event), for: key, into: &state)
        }
    }

    private func forget(_ key: Key) {
        state.withLock { _ = $0.events.removeValue(forKey: key) }
    }

    private static func insert(_ entry: Entry, for key: Key, into state: inout (events: [Key: Entry], order: [Key])) {
        state.events[key] = entry
        state.order.append(key)
        // Trimmed in halves, so the cost per event stays constant.
        if state.order.count >= 2 * capacity {
            for oldest in state.order.prefix(capacity) { state.events.removeValue(forKey: oldest) }
            state.order.removeFirst(capacity)
        }
    }
}
