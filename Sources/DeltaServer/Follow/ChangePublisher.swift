import Synchronization

/// What a commit announces: the workspace and the sequence it reached. Subscribers read the
/// change log for the entries themselves, so a notice stays small whatever the bundle held.
public struct ChangeNotice: Sendable, Hashable {
    public var workspace: String
    public var sequence: Int64

    public init(workspace: String, sequence: Int64) {
        self.workspace = workspace
        self.sequence = sequence
    }
}

/// Tells subscribers (streams, the web page, later the code graph) that a bundle committed.
/// The apply path calls `publish` after the commit, never before. A second implementation can
/// fan notices out across server replicas (PostgreSQL `LISTEN/NOTIFY`): subscribers only need
/// "something at or below this sequence committed", and re-read the log from their cursor.
public protocol ChangePublisher: Sendable {
    func publish(_ notice: ChangeNotice)
    /// A bounded subscription to one workspace (nil: every workspace), or nil when the server
    /// already has as many subscribers as it allows.
    func subscribe(workspace: String?) -> ChangeSubscription?
    /// A subscription of the server's own (the code graph's indexer): never refused, and not
    /// counted among the clients `--max-subscribers` bounds.
    func subscribeInternally(workspace: String?) -> ChangeSubscription
    /// Ends every subscription (graceful shutdown).
    func finishAll()
    /// Client subscriptions (internal ones are not counted).
    var subscriberCount: Int { get }
}

/// What a subscriber receives.
public enum SubscriptionEvent: Sendable, Hashable {
    case committed(ChangeNotice)
    /// Time to send a keep-alive (from the subscriber's own heartbeat).
    case heartbeat
}

/// One subscriber's bounded queue of events. When it fills (the subscriber reads too slowly),
/// the subscription ends: the subscriber reconnects and resumes from its cursor, and nobody
/// else waits for it.
public final class ChangeSubscription: AsyncSequence, Sendable {
    public typealias Element = SubscriptionEvent
    let events: AsyncStream<SubscriptionEvent>
    let continuation: AsyncStream<SubscriptionEvent>.Continuation
    private let ended = Atomic<Bool>(false)
    private let overflowed = Atomic<Bool>(false)
    private let onEnd: @Sendable () -> Void

    init(capacity: Int, onEnd: @escaping @Sendable () -> Void) {
        (events, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(capacity))
        self.onEnd = onEnd
    }

    public func makeAsyncIterator() -> AsyncStream<SubscriptionEvent>.AsyncIterator { events.makeAsyncIterator() }

    /// Whether it ended because the subscriber fell too far behind.
    public var didOverflow: Bool { overflowed.load(ordering: .acquiring) }

    /// Queues an event; a full queue ends the subscription.
    func deliver(_ event: SubscriptionEvent) {
        if case .dropped = continuation.yield(event) {
            overflowed.store(true, ordering: .releasing)
            end()
        }
    }

    public func heartbeat() { deliver(.heartbeat) }

    /// Ends the subscription (idempotent).
    public func end() {
        guard !ended.exchange(true, ordering: .acquiringAndReleasing) else { return }
        continuation.finish()
        onEnd()
    }
}

/// The in-process publisher: one server, every subscriber in this process.
public final class LocalChangePublisher: ChangePublisher {
    private struct Subscriber {
        var workspace: String?
        var subscription: ChangeSubscription
        var counted = true
    }

    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextID = Atomic<UInt64>(0)
    let maxSubscribers: Int
    let bufferCapacity: Int

    public init(maxSubscribers: Int = 10_000, bufferCapacity: Int = 1_000) {
        self.maxSubscribers = maxSubscribers
        self.bufferCapacity = bufferCapacity
    }

    public func publish(_ notice: ChangeNotice) {
        let targets = subscribers.withLock { all in
            all.values.filter { $0.workspace == nil || $0.workspace == notice.workspace }.map(\.subscription)
        }
        for subscription in targets { subscription.deliver(.committed(notice)) }
    }

    public func subscribe(workspace: String?) -> ChangeSubscription? {
        subscribe(workspace: workspace, counted: true)
    }

    public func subscribeInternally(workspace: String?) -> ChangeSubscription {
        // Never nil: an uncounted subscriber is always admitted.
        subscribe(workspace: workspace, counted: false) ?? ChangeSubscription(capacity: bufferCapacity) {}
    }

    private func subscribe(workspace: String?, counted: Bool) -> ChangeSubscription? {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let subscription = ChangeSubscription(capacity: bufferCapacity) { [weak self] in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        let admitted = subscribers.withLock { all in
            guard !counted || all.values.count(where: \.counted) < maxSubscribers else { return false }
            all[id] = Subscriber(workspace: workspace, subscription: subscription, counted: counted)
            return true
        }
        return admitted ? subscription : nil
    }

    public func finishAll() {
        let all = subscribers.withLock { $0.values.map(\.subscription) }
        for subscription in all { subscription.end() }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.values.count(where: \.counted) } }
}
