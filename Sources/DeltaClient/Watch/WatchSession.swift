import CDeltaSys
import DeltaCore
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// `deltasync watch`: keeps the server in step with the directory continuously.
///
/// Order matters for never missing a change: watches are installed first, then the catch-up scan
/// runs, then batches from the change queue are detected incrementally. Detection of the next
/// batch proceeds while the uploader drains the outbox; while the server is away bundles queue in
/// the outbox and drain in order when it returns. On SIGINT/SIGTERM pending events are flushed
/// and the outbox drained (bounded by `shutdownGrace`) before it exits.
public final class WatchSession: Service, Sendable {
    public struct Configuration: Sendable {
        public var push: PushConfiguration
        /// Poll interval instead of inotify (network filesystems), or nil.
        public var pollInterval: Duration?
        public var quietPeriod: Duration
        public var maxDelay: Duration
        public var shutdownGrace: Duration
        /// Tests only: fewer inotify watches than the kernel allows.
        public var watchLimit: Int?

        public init(
            push: PushConfiguration, pollInterval: Duration? = nil, quietPeriod: Duration = .milliseconds(10),
            maxDelay: Duration = .milliseconds(200), shutdownGrace: Duration = .seconds(10), watchLimit: Int? = nil
        ) {
            self.push = push
            self.pollInterval = pollInterval
            self.quietPeriod = quietPeriod
            self.maxDelay = maxDelay
            self.shutdownGrace = shutdownGrace
            self.watchLimit = watchLimit
        }
    }

    private struct Live {
        var phase = "starting"
        var detecting = false
        var uploading = false
        var serverSequence: Int64?
        var serverError: String?
        var needsPrepare = true
        var batches = 0
        var caughtUpFromSnapshot = false
    }

    public let configuration: Configuration
    let logger: Logger
    let engine: SyncEngine
    public let queue: ChangeQueue
    public let watcher: any FileWatcher
    private let live = Mutex(Live())
    /// Rung whenever the uploader has been through the outbox, for `waitForUploader`.
    private let uploaded = Doorbell()
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let stopper: AsyncStream<Void>.Continuation
    private let stops: AsyncStream<Void>
    private let ready: AsyncStream<Void>.Continuation
    private let readiness: AsyncStream<Void>

    public init(
        configuration: Configuration, logger: Logger, progress: @escaping @Sendable (PushProgress) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.logger = logger
        engine = try SyncEngine(configuration: configuration.push, logger: logger, progress: progress)
        let uploaded = self.uploaded
        queue = ChangeQueue(quietPeriod: configuration.quietPeriod, maxDelay: configuration.maxDelay) {
            uploaded.ring()
        }
        if let interval = configuration.pollInterval {
            watcher = PollingWatcher(interval: interval)
        } else {
            #if os(Linux)
                watcher = try InotifyWatcher(
                    root: configuration.push.root, ignore: engine.ignore, logger: logger,
                    watchLimit: configuration.watchLimit
                )
            #else
                watcher = PollingWatcher(interval: .seconds(2))
            #endif
        }
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (readiness, ready) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (stops, stopper) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Resumes once the catch-up scan has been queued (tests and benchmarks).
    public func waitUntilWatching() async {
        for await _ in readiness { return }
    }

    public func run() async throws {
        let queue = self.queue
        try watcher.start { event in queue.add(event) }
        defer { watcher.stop() }
        let control = try? ControlChannel(path: configuration.push.stateDirectory + "/watch.sock") { question in
            await self.quiescentStatus(timeout: question == .push ? .seconds(60) : .seconds(2))
        }
        defer { control?.close() }

        await prepareIfNeeded()
        var report = PushReport()
        // Watches are in place, so whatever changes from here on is an event: the catch-up only
        // has to cover what changed while nothing watched, which a matching snapshot rules out.
        let push = configuration.push
        if let matched = TreeSnapshot.matchTree(in: push.stateDirectory, root: push.root),
            matched.changedFiles.isEmpty, let found = (try? engine.standing(matched)) ?? nil,
            (try? engine.reportUnchanged(found, report: &report)) != nil
        {
            live.withLock { $0.caughtUpFromSnapshot = true }
        } else {
            try detectAndQueue { try self.engine.detectAll(report: &report) }
        }
        Self.returnFreedMemory()
        Self.dropStartupCode()
        setPhase("watching")
        ready.yield()
        logger.info(
            "watching",
            metadata: [
                "root": "\(configuration.push.root)", "workspace": "\(configuration.push.workspace.name ?? "-")",
            ])

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.uploadLoop() }
            group.addTask { await self.detectLoop() }
            group.addTask { await self.trimWhenIdle() }
            group.addTask {
                try? await gracefulShutdown()  // SIGTERM/SIGINT through the ServiceGroup
                self.stop()
            }
            for await _ in stops { break }
            group.cancelAll()
        }
        await shutdown()
        engine.releaseLock()
    }

    /// Whether the catch-up at start was a stat check against the last push's `TreeSnapshot`
    /// (nothing had changed) rather than a full scan.
    public var caughtUpFromSnapshot: Bool { live.withLock { $0.caughtUpFromSnapshot } }

    /// Asks `run()` to flush pending work and return (what SIGTERM does).
    public func stop() { stopper.yield() }

    // MARK: - Loops

    private func detectLoop() async {
        while !Task.isCancelled {
            await waitForUploader()
            guard let batch = await queue.next() else { return }
            await process(batch)
            queue.finish(batch)
        }
    }

    /// Longest a batch is left to grow while earlier bundles wait for the uploader.
    static let maxCoalescing: Duration = .seconds(1)

    /// While bundles wait for the uploader, the next batch is left to grow: it could not go up
    /// before them anyway, and one larger bundle costs the server one commit (and its syncs)
    /// where many small ones would each cost theirs. A save on an idle watcher never waits here,
    /// nor does a lone save while only the bundle before it is on its way: it is detected and
    /// queued while that one is applied, and goes up the moment it is acknowledged (a burst
    /// still coalesces from the bundle after). Bounded, so a server that is away does not hold
    /// detection back.
    private func waitForUploader() async {
        let deadline = ContinuousClock.now + Self.maxCoalescing
        while !Task.isCancelled, ContinuousClock.now < deadline {
            let pending = (try? engine.state.pendingCount()) ?? 0
            if pending == 0 || (pending == 1 && queue.hasLoneSave) { return }
            await uploaded.wait(until: deadline)
        }
    }

    private func process(_ batch: ChangeQueue.Batch) async {
        live.withLock {
            $0.detecting = true
            $0.batches += 1
        }
        defer { live.withLock { $0.detecting = false } }
        do {
            var report = PushReport()
            if let reason = batch.rescan {
                logger.info("rescanning", metadata: ["reason": "\(reason)"])
                try detectAndQueue { try self.engine.detectAll(report: &report) }
                Self.returnFreedMemory()
            } else if batch.paths.contains(where: Self.isRuleFile) || batch.directories.contains(where: Self.isRuleFile)
            {
                // An ignore file changed: what is synced may change anywhere below it.
                try detectAndQueue { try self.engine.detectAll(report: &report) }
            } else {
                try detectAndQueue {
                    try self.engine.detect(paths: batch.paths, directories: batch.directories, report: &report)
                }
            }
        } catch {
            logger.error("detection failed; rescanning", metadata: ["error": "\(error)"])
            queue.add(.rescan(reason: "detection error"))
        }
    }

    /// Detects and queues; a file edited while it was bundled means looking again. After the
    /// third time the error reaches the caller, which queues a full rescan: the batch's changes
    /// must not be dropped (they once were, silently, when its files kept changing).
    private func detectAndQueue(_ detect: () throws -> ChangeSet) throws {
        for attempt in 1...3 {
            let changes = try detect()
            do {
                try engine.enqueue(changes)
                if !changes.isEmpty { wake.yield() }
                return
            } catch let error as DeltaError where error.code == .changedWhileBundling && attempt < 3 {
                continue  // edited while bundling: look again
            }
        }
    }

    private func uploadLoop() async {
        var iterator = wakes.makeAsyncIterator()
        while !Task.isCancelled {
            if (try? engine.state.pendingCount()) ?? 0 > 0 || live.withLock({ $0.needsPrepare }) {
                live.withLock { $0.uploading = true }
                await uploadPending()
                live.withLock { $0.uploading = false }
            }
            guard await iterator.next() != nil else { return }
        }
    }

    /// Drains the outbox; while the server is away keeps trying with capped backoff.
    private func uploadPending() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                if live.withLock({ $0.needsPrepare }) {
                    let prepared = try await engine.prepare()
                    live.withLock {
                        $0.needsPrepare = false
                        $0.serverSequence = prepared.status.lastSequence
                        $0.serverError = nil
                    }
                    if prepared.resynced {
                        var report = PushReport()
                        try detectAndQueue { try self.engine.detectAll(report: &report) }
                    }
                }
                var report = PushReport()
                let consistent = try await engine.drain(report: &report)
                uploaded.ring()
                live.withLock {
                    $0.serverSequence = report.sequence
                    if !consistent { $0.needsPrepare = true }
                }
                if try consistent && engine.state.pending().isEmpty { return }
                failures = 0
            } catch {
                failures += 1
                live.withLock {
                    $0.serverError = "\(error)"
                    $0.needsPrepare = true
                }
                let wait = RetryPolicy(baseDelay: .milliseconds(200), maxDelay: .seconds(5)).delay(
                    attempt: failures, retryAfter: nil)
                logger.warning("upload failed; will retry", metadata: ["error": "\(error)", "wait": "\(wait)"])
                try? await Task.sleep(for: wait)
            }
        }
    }

    private func prepareIfNeeded() async {
        do {
            let prepared = try await engine.prepare()
            live.withLock {
                $0.needsPrepare = false
                $0.serverSequence = prepared.status.lastSequence
            }
        } catch {
            logger.warning(
                "server not reachable at start; changes queue in the outbox", metadata: ["error": "\(error)"])
            live.withLock { $0.serverError = "\(error)" }
        }
    }

    /// Flush pending events and drain the outbox, bounded by the grace period.
    private func shutdown() async {
        setPhase("stopping")
        // Read what the kernel already queued (saves made just before the signal), then stop.
        let settleDeadline = ContinuousClock.now + .seconds(1)
        while watcher.hasUnreadEvents && ContinuousClock.now < settleDeadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
        watcher.stop()
        let batch = queue.take()
        if !batch.isEmpty { await process(batch) }
        queue.finish(batch)
        let grace = configuration.shutdownGrace
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.uploadPending() }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            group.cancelAll()
        }
        logger.info("stopped", metadata: ["pending": "\((try? engine.state.pending().count) ?? -1)"])
    }

    // MARK: - Status

    /// The live state once everything observable so far has been processed (or after `timeout`).
    public func quiescentStatus(timeout: Duration = .seconds(2)) async -> ClientStatus {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isQuiescent() { break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return currentStatus()
    }

    private func isQuiescent() -> Bool {
        if watcher.hasUnreadEvents || queue.hasPending { return false }
        let busy = live.withLock { $0.detecting || $0.uploading }
        if busy { return false }
        let pending = (try? engine.state.pending().count) ?? 1
        let acked = (try? engine.state.ackedSequence) ?? -1
        return pending == 0 && live.withLock { $0.serverSequence } == acked
    }

    func currentStatus() -> ClientStatus {
        let snapshot = live.withLock { $0 }
        let pending = (try? engine.state.pending()) ?? []
        let record = (try? engine.state.syncState()) ?? SyncState()
        var status = ClientStatus(
            workspace: record.workspaceKey, server: configuration.push.serverURL, ackedSequence: record.ackedSequence,
            serverSequence: snapshot.serverSequence, serverError: snapshot.serverError, pendingBundles: pending.count,
            pendingBytes: pending.reduce(0) { $0 + $1.size }, lastError: record.lastError,
            lastPushAt: engine.state.lastPushAt(record), idle: false
        )
        status.serverKind = record.serverKind
        status.warning = record.warning
        status.watching = true
        status.phase = snapshot.phase
        status.queuedEvents = queue.hasPending ? 1 : 0
        status.idle = isQuiescent()
        return status
    }

    /// Detecting and uploading leave freed heap pages mapped. Once nothing has happened for a
    /// whole second after some work, they go back to the kernel: never on a save's way to the
    /// server, and not at all while the watcher is idle.
    private func trimWhenIdle() async {
        var seen = live.withLock { $0.batches }
        var trimmed = seen
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let (batches, busy) = live.withLock { ($0.batches, $0.detecting || $0.uploading) }
            if batches == seen, batches != trimmed, !busy, !queue.hasPending {
                Self.returnFreedMemory()
                trimmed = batches
            }
            seen = batches
        }
    }

    private func setPhase(_ phase: String) { live.withLock { $0.phase = phase } }

    /// A whole-tree scan allocates in proportion to the tree and frees it all when done; glibc
    /// keeps freed heap pages mapped, so a watcher idling after its catch-up would hold them.
    /// Hands them back to the kernel.
    static func returnFreedMemory() {
        _ = cdeltasys_malloc_trim()
    }

    /// Start-up (parsing options, asking the server, the catch-up scan) runs code a watcher
    /// never needs again: several MiB of the binary's and the libraries' pages stay mapped,
    /// counted in its RSS though they belong to the page cache. They are unmapped once, when
    /// watching begins; what a save needs faults back in with the first save. Only read-only
    /// executable mappings holding no private page are touched (`cdeltasys_drop_code_pages`).
    /// Not done again when idle: each save after a pause would pay for the faults.
    @discardableResult
    static func dropStartupCode() -> Int64 {
        Int64(cdeltasys_drop_code_pages())
    }

    static func isRuleFile(_ path: String) -> Bool {
        IgnoreRules.isRuleFile(String(path.split(separator: "/").last ?? ""))
    }
}
