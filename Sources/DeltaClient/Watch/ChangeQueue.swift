import Synchronization

/// Collects watch events and releases them in batches: after a quiet period with no new event,
/// or at the latest a maximum delay after the first event of the batch. Repeated events on a
/// path coalesce, so a burst (a `git checkout` of 20,000 files) becomes a few large batches.
///
/// One save when idle goes at once: a file closed after writing (or moved in) whose path is the
/// only one pending, that was not created in this batch, while no batch is being handled, is
/// released without waiting out the quiet period. What follows it coalesces as above.
public final class ChangeQueue: Sendable {
    /// One batch of work for the sync engine.
    public struct Batch: Sendable {
        public var paths: Set<String> = []
        public var directories: Set<String> = []
        public var rescan: String?
        public var isEmpty: Bool { paths.isEmpty && directories.isEmpty && rescan == nil }
    }

    private struct Pending {
        var batch = Batch()
        var firstEvent: ContinuousClock.Instant?
        var lastEvent: ContinuousClock.Instant?
        var received = 0
        /// Files created since the last release (a new file's first close may not be its last).
        var created: Set<String> = []
        /// A lone completed save on an idle queue: release now.
        var releaseNow = false
        /// Batches handed out and not yet `finish`ed: still work in progress for the barrier.
        var inFlight = 0
    }

    public let quietPeriod: Duration
    public let maxDelay: Duration
    private let pending = Mutex(Pending())
    /// Wakes `next()`: on the first event of a batch, and on a lone save.
    private let doorbell = Doorbell()
    /// Called when a lone save makes the pending batch due now (the detector may be waiting for
    /// the uploader rather than on `next()`).
    private let onLoneSave: @Sendable () -> Void

    public init(
        quietPeriod: Duration = .milliseconds(10), maxDelay: Duration = .milliseconds(200),
        onLoneSave: @escaping @Sendable () -> Void = {}
    ) {
        self.quietPeriod = quietPeriod
        self.maxDelay = maxDelay
        self.onLoneSave = onLoneSave
    }

    /// Adds an event (any thread).
    public func add(_ event: WatchEvent) {
        let now = ContinuousClock.now
        let (first, dueNow) = pending.withLock { state in
            let first = state.firstEvent == nil
            var dueNow = false
            switch event {
            case .changed(let path): state.batch.paths.insert(path)
            case .created(let path):
                state.batch.paths.insert(path)
                state.created.insert(path)
            case .completed(let path):
                state.batch.paths.insert(path)
                if state.inFlight == 0, state.batch.paths.count == 1, state.batch.directories.isEmpty,
                    state.batch.rescan == nil, !state.created.contains(path)
                {
                    state.releaseNow = true
                    dueNow = true
                }
            case .directoryAppeared(let path): state.batch.directories.insert(path)
            case .rescan(let reason): state.batch.rescan = reason
            }
            if state.firstEvent == nil { state.firstEvent = now }
            state.lastEvent = now
            state.received += 1
            return (first, dueNow)
        }
        // Later events only push the deadline back, so they need not wake `next()`. A lone save
        // does: the one that completes a batch `next()` already waits on (its `IN_MODIFY` came
        // first, often in an earlier read) must not wait out the quiet period the first started.
        if first || dueNow { doorbell.ring() }
        if dueNow { onLoneSave() }
    }

    /// Whether events are waiting for the next batch or a taken batch is still being handled.
    /// Taking a batch and marking it in flight happen under one lock, so a quiescence check
    /// never sees the moment between the queue and the detector.
    public var hasPending: Bool { pending.withLock { !$0.batch.isEmpty || $0.inFlight > 0 } }

    /// Marks a batch from `next()` or `take()` as handled.
    public func finish(_ batch: Batch) {
        guard !batch.isEmpty else { return }
        pending.withLock { $0.inFlight -= 1 }
    }

    /// Whether the pending batch is a lone save, due now.
    public var hasLoneSave: Bool { pending.withLock { $0.releaseNow && !$0.batch.isEmpty } }

    /// Events received since start (for status and benchmarks).
    public var received: Int { pending.withLock { $0.received } }

    /// When the pending batch is due: now for a lone save on an idle queue, otherwise a quiet
    /// period after the last event, at most the maximum delay after the first; nil when empty.
    var releaseDeadline: ContinuousClock.Instant? {
        pending.withLock { state in
            guard let first = state.firstEvent, let last = state.lastEvent else { return nil }
            return state.releaseNow ? first : min(last + quietPeriod, first + maxDelay)
        }
    }

    /// Waits for the next batch; returns nil when cancelled.
    public func next() async -> Batch? {
        while !Task.isCancelled {
            let deadline = releaseDeadline
            if let deadline, ContinuousClock.now >= deadline {
                return take()
            }
            // Empty: until the first event rings (the hour only bounds each wait).
            await doorbell.wait(until: deadline ?? .now + .seconds(3600))
        }
        return nil
    }

    /// Whether `next()` is waiting out a deadline (tests).
    var isWaitingForDeadline: Bool { doorbell.isWaiting }

    /// Takes whatever is pending now (shutdown flush); `finish` it when handled.
    public func take() -> Batch {
        pending.withLock { state in
            if !state.batch.isEmpty { state.inFlight += 1 }
            defer {
                state.batch = Batch()
                state.firstEvent = nil
                state.lastEvent = nil
                state.created = []
                state.releaseNow = false
            }
            return state.batch
        }
    }
}
