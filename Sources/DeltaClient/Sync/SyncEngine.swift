public import DeltaCore
import Foundation
public import Logging
import Synchronization

/// The client's core, shared by `push` and `watch`, composed of three parts: the server-sync
/// step (`ServerSync`: sequence, kind, reconciliation and recovery), detection (`LocalChanges`
/// over the pure `ChangeDetector`) and the `Outbox` (bundles written, recorded and drained in
/// order). One engine per state directory at a time (`SessionLock`).
public final class SyncEngine: Sendable {
    public let configuration: PushConfiguration
    public let state: ClientState
    let logger: Logger
    let ignore: IgnoreRules
    private let lock: SessionLock
    private let progress = Mutex(PushProgress())
    private let progressHandler: @Sendable (PushProgress) -> Void
    /// What the last `prepare` learned of the server.
    private let server = Mutex<(info: ServerInfo, kind: ServerKind)?>(nil)
    /// The last full detection's snapshot, saved by `saveSnapshot` once the push has settled.
    private let pendingSnapshot = Mutex<TreeSnapshot?>(nil)
    /// Whether the server is on this machine (`--compression auto`), classified once.
    private let serverIsLoopback: Bool

    public init(
        configuration: PushConfiguration, logger: Logger,
        progress: @escaping @Sendable (PushProgress) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.progressHandler = progress
        serverIsLoopback = BundleCompression.isLoopback(configuration.serverURL)
        try FileSystem.createDirectory(configuration.stateDirectory)
        lock = try SessionLock(directory: configuration.stateDirectory)
        state = try ClientState(directory: configuration.stateDirectory)
        try state.removeOrphans()
        let lost = try state.dropLostPending()
        if lost > 0 {
            logger.warning(
                "\(lost) outbox bundle(s) did not reach the disk before a power loss or crash; reconciling with the server",
                metadata: ["state": "\(configuration.stateDirectory)"])
        }
        ignore = IgnoreRules(root: configuration.root, stateDirectoryName: configuration.stateDirectoryNameInsideRoot)
    }

    var api: DeltaAPI {
        DeltaAPI(baseURL: configuration.serverURL, token: configuration.token, timeout: configuration.requestTimeout)
    }

    private var outbox: Outbox { Outbox(state: state, root: configuration.root, logger: logger) }

    private var serverSync: ServerSync {
        ServerSync(
            configuration: configuration, state: state, logger: logger, api: api,
            retrying: { operation in try await self.withRetry(operation) },
            fetchManifest: { try await self.withRetry { try await self.api.manifest(self.configuration.workspace) } },
            upload: { entry, sequence in try await self.upload(entry, sequence: sequence) }
        )
    }

    private var localChanges: LocalChanges {
        let state = self.state
        let info = serverInfo
        return LocalChanges(
            root: configuration.root, ignore: ignore,
            base: LocalChanges.BaseTree(
                all: { try state.files() }, below: { try state.files(at: $0, andBelow: true) }),
            maxFileBytes: min(info.maxFileBytes, (info.maxBundleSizeMB << 20) - (1 << 20))
        )
    }

    private var serverInfo: ServerInfo {
        server.withLock { $0?.info } ?? ServerInfo(version: "?", limits: BundleLimits())
    }

    /// The kind of server the last `prepare` found (ours until one answers otherwise).
    public var serverKind: ServerKind { server.withLock { $0?.kind } ?? .deltasync }

    // MARK: - Server state

    /// What `prepare` learned.
    public struct Prepared: Sendable {
        public var status: StatusResponse
        public var kind: ServerKind
        public var resynced: Bool
    }

    /// Releases the state directory's session lock; the engine must not write after this.
    public func releaseLock() { lock.release() }

    /// Asks the server for its sequence, kind and limits, and reconciles when needed.
    public func prepare() async throws -> Prepared {
        update { $0.phase = .connecting }
        let prepared = try await serverSync.prepare()
        server.withLock { $0 = (prepared.status.serverInfo, prepared.kind) }
        return Prepared(status: prepared.status, kind: prepared.kind, resynced: prepared.resynced)
    }

    // MARK: - Detection

    /// Scans the whole workspace and compares it with the file table. With `snapshot`, keeps a
    /// ``TreeSnapshot`` of the scan for ``saveSnapshot()``.
    public func detectAll(report: inout PushReport, snapshot: Bool = false) throws -> ChangeSet {
        try detectAll(report: &report, snapshot: snapshot, streaming: nil).changes
    }

    /// Scans the whole workspace, compares it with the file table and queues what changed
    /// (``enqueue(_:)``). When nothing is tracked yet and nothing is pending (a first push), each
    /// bundle is queued as soon as its files are hashed, so a drain running beside this uploads
    /// the first bundles while the rest are read. Throws `CHANGED_WHILE_BUNDLING` as `enqueue`.
    public func detectAndEnqueueAll(report: inout PushReport, snapshot: Bool = false) throws {
        let streaming: LocalChanges.Streaming?
        if try state.pendingCount() == 0, !(try state.syncState().forceNextBundles) {
            // The runs must be the bundles `enqueue` makes of them: the same planner.
            let planner = outbox.planner(info: serverInfo, kind: serverKind)
            streaming = LocalChanges.Streaming(
                runs: { planner.runs(contentSizes: $0) }, deliver: { try self.enqueue($0, announcing: false) })
        } else {
            streaming = nil
        }
        let detected = try detectAll(report: &report, snapshot: snapshot, streaming: streaming)
        if !detected.streamed { try enqueue(detected.changes) }
    }

    private func detectAll(
        report: inout PushReport, snapshot: Bool, streaming: LocalChanges.Streaming?
    ) throws -> (changes: ChangeSet, streamed: Bool) {
        update { $0.phase = .scanning }
        let hashed = Mutex<Int64>(0)
        let detection = try localChanges.all(
            snapshot: snapshot, racyWindow: configuration.racyWindow,
            onScanned: { count in
                self.update {
                    $0.phase = .hashing
                    $0.filesScanned = count
                }
            },
            onHashed: { bytes in
                let total = hashed.withLock { value in
                    value += bytes
                    return value
                }
                self.update { $0.bytesHashed = total }
            }, streaming: streaming)
        pendingSnapshot.withLock { $0 = detection.snapshot }
        return (record(detection, in: &report), detection.streamed)
    }

    /// What `matched` (a saved ``TreeSnapshot`` whose directories still match) found, when it
    /// was taken beside the file table as it is now and for this server's limits, with nothing
    /// waiting in the outbox; nil otherwise, and the push scans. Only its changed files can then
    /// differ from the table.
    public func standing(_ matched: TreeSnapshot.Matched) throws -> TreeSnapshot.Unchanged? {
        guard try state.pendingCount() == 0, !(try state.syncState().needsResync) else { return nil }
        return matched.standsFor(context: localChanges.snapshotContext, generation: try state.filesGeneration())
    }

    /// Reports what a standing snapshot with no changed file found: nothing to detect or send.
    public func reportUnchanged(_ found: TreeSnapshot.Unchanged, report: inout PushReport) throws {
        var detection = LocalChanges.Detection(changes: ChangeSet(), filesScanned: found.fileCount)
        detection.skipped = found.skipped
        _ = record(detection, in: &report)
        report.sequence = try state.ackedSequence
    }

    /// Detects only the files a standing snapshot found edited in place, and keeps the snapshot
    /// patched with what detection found for ``saveSnapshot()``.
    public func detectChanged(
        since matched: TreeSnapshot.Matched, found: TreeSnapshot.Unchanged, report: inout PushReport
    ) throws -> ChangeSet {
        update { $0.phase = .hashing }
        let paths = Set(matched.changedFiles.map(\.path))
        var detection = try localChanges.at(paths: paths, directories: [], rehash: paths)
        var states: [String: TrackedFile] = [:]
        for state in detection.changes.changes.compactMap(\.state) + detection.changes.refreshed {
            states[state.path] = state
        }
        // Skipped now (too large, vanished): the snapshot's list would be stale; scan next time.
        let patched =
            detection.skipped.isEmpty ? matched.patched(with: states, racyWindow: configuration.racyWindow) : nil
        pendingSnapshot.withLock { $0 = patched }
        detection.filesScanned = found.fileCount
        detection.skipped += found.skipped
        return record(detection, in: &report)
    }

    /// Saves the last full detection's snapshot beside the file table as it is now, when the
    /// outbox is empty (the table is then what the server has); otherwise removes any old one.
    public func saveSnapshot() {
        let snapshot = pendingSnapshot.withLock { value in
            defer { value = nil }
            return value
        }
        do {
            guard let snapshot, try state.pendingCount() == 0, !(try state.syncState().needsResync) else {
                TreeSnapshot.remove(in: configuration.stateDirectory)
                return
            }
            try snapshot.save(in: configuration.stateDirectory, generation: try state.filesGeneration())
        } catch {
            TreeSnapshot.remove(in: configuration.stateDirectory)
            logger.debug("tree snapshot not saved", metadata: ["error": "\(error)"])
        }
    }

    /// Re-examines only `paths` (files or directories, changed) and `directories` (appeared:
    /// scanned whole) — the watcher's incremental path.
    public func detect(paths: Set<String>, directories: Set<String>, report: inout PushReport) throws -> ChangeSet {
        record(try localChanges.at(paths: paths, directories: directories), in: &report)
    }

    private func record(_ detection: LocalChanges.Detection, in report: inout PushReport) -> ChangeSet {
        let changes = detection.changes
        report.filesScanned += detection.filesScanned
        report.skipped += detection.skipped.map { PushReport.SkippedFile(path: $0.path, reason: $0.reason) }
        for skipped in detection.skipped {
            logger.log(
                level: configuration.listsSkipped ? .info : .warning, "skipped",
                metadata: ["path": "\(skipped.path)", "reason": "\(skipped.reason)"])
        }
        report.filesHashed += changes.changes.count + changes.refreshed.count
        report.created += changes.count(.created)
        report.updated += changes.count(.updated)
        report.deleted += changes.count(.deleted)
        report.moved += changes.count(.moved)
        return changes
    }

    // MARK: - Outbox

    /// Writes `changes` as bundles under the server's limits and records them in the outbox.
    /// Throws `CHANGED_WHILE_BUNDLING` when a file changed while being bundled.
    public func enqueue(_ changes: ChangeSet) throws {
        try enqueue(changes, announcing: true)
    }

    /// `announcing`: whether the progress enters the bundling phase (not while a first push
    /// queues bundles as it hashes: it stays hashing, then uploading).
    private func enqueue(_ changes: ChangeSet, announcing: Bool) throws {
        let force = try !changes.isEmpty && state.syncState().forceNextBundles
        if announcing && !changes.isEmpty { update { $0.phase = .bundling } }
        let info = serverInfo
        let kind = serverKind
        let format = configuration.compression.format(loopback: serverIsLoopback, info: info, kind: kind)
        let count = try outbox.enqueue(changes, info: info, kind: kind, format: format, force: force)
        update { $0.bundlesTotal += count }
        if force { try state.updateSyncState { $0.forceNextBundles = false } }
    }

    /// Uploads to our server in flight at once: one being applied (its reply waits for its
    /// materialised copy), the next two being received and checked. With two, a bundle received
    /// while the one before still committed or made its copy left a core idle: once the server
    /// hashed less and wrote a third of the database log, three took 4–7 % off a first push
    /// (fresh ext4, alternating pairs: synthetic-100k 8.95/9.24 → 8.56/8.53 s, linux 8.83/9.27 →
    /// 8.21/8.66 s), for about 5 MiB more of the server's peak. (Tried earlier, when the server
    /// was CPU-bound on its own, a third made no difference.)
    static let uploadsInFlight = 3

    /// Uploads kept in flight to our server: `uploadsInFlight`, but never more than the server
    /// takes at once (`server_info.max_concurrent_uploads`: one more would be refused with `503`
    /// and sent again a second later), and two to a server that does not say (as before it).
    static func uploadDepth(_ info: ServerInfo) -> Int {
        guard let limit = info.maxConcurrentUploads else { return 2 }
        return max(1, min(uploadsInFlight, limit))
    }

    /// Uploads pending bundles in order. Returns false when the server's sequence disagrees and
    /// the caller must `prepare()` again (which then converges).
    public func drain(report: inout PushReport) async throws -> Bool {
        var (acked, pending) = try state.ackedAndPending()
        report.sequence = acked
        guard !pending.isEmpty else { return true }
        // The uploader runs beside `enqueue`: the failpoint must also stop it from sending what
        // was just recorded, or the "killed after the outbox" state depends on timing.
        ClientFailpoint.check("after-outbox")
        update {
            $0.phase = .uploading
            $0.bundlesTotal = max($0.bundlesTotal, pending.count)
            $0.bytesToSend += pending.reduce(0) { $0 + $1.size }
        }
        // Against our server the next bundles are sent while this one is applied (up to
        // `uploadDepth` at once): the server receives and checks them meanwhile and applies
        // each right after the one before, or refuses it whole.
        let depth = serverKind == .deltasync ? Self.uploadDepth(serverInfo) : 1
        var ahead: [Int: (task: Task<DeltaAPI.UploadOutcome, any Error>, started: Flag)] = [:]
        defer { for (_, upload) in ahead { upload.task.cancel() } }
        func cancelAhead() async {
            for (_, upload) in ahead {
                upload.task.cancel()
                _ = await upload.task.result
            }
            ahead.removeAll()
        }
        var index = -1
        while index + 1 < pending.count {
            index += 1
            // Bundles written since (a push writes them while these upload) join the same
            // pipeline instead of waiting for the next call, which would start with none in flight.
            if index + depth >= pending.count, let last = pending.last {
                let added = try state.pending().filter { $0.id > last.id }
                if !added.isEmpty {
                    ClientFailpoint.check("after-outbox")
                    pending += added
                    update {
                        $0.bundlesTotal = max($0.bundlesTotal, $0.bundlesSent + pending.count - index)
                        $0.bytesToSend += added.reduce(0) { $0 + $1.size }
                    }
                }
            }
            let entry = pending[index]
            // Durable while it uploads: the fsyncs stay off a save's path to the server, and the
            // entry is acknowledged (or the failure reported) only once they are done.
            let path = state.outboxPath(entry.file)
            let directory = state.directory + "/outbox"
            let durable = Task { try await Outbox.makeDurable(path, directory: directory) }
            var outcome: DeltaAPI.UploadOutcome
            do {
                let sent = ahead.removeValue(forKey: index)
                let started = sent?.started ?? Flag(false)
                // Bundles after this one, each sent once the one before is on the wire (so the
                // server knows of it) and never past a forced one.
                var previous = (started: started, id: entry.bundleID, force: entry.force)
                for next in (index + 1)..<min(index + depth, pending.count) {
                    let following = pending[next]
                    if previous.force || following.force { break }
                    if let queued = ahead[next] {
                        previous = (queued.started, following.bundleID, following.force)
                        continue
                    }
                    let before = previous
                    let sequence = acked + 1 + Int64(next - index)
                    let flag = Flag(false)
                    ahead[next] = (
                        Task {
                            for _ in 0..<200 where !before.started.value { try await Task.sleep(for: .milliseconds(1)) }
                            return try await self.upload(following, sequence: sequence, after: before.id) {
                                flag.value = true
                            }
                        }, flag
                    )
                    previous = (flag, following.bundleID, following.force)
                }
                if let sent {
                    outcome = try await sent.task.value
                    // Refused whole (it arrived first, or the one before was not applied): once
                    // more, on its own.
                    if case .sequenceMismatch = outcome { outcome = try await upload(entry, sequence: acked + 1) }
                } else {
                    outcome = try await upload(entry, sequence: acked + 1) { started.value = true }
                }
            } catch let error as DeltaError where error.code == .changedWhileBundling {
                // A file a source list names changed since it was queued: the bundle cannot be
                // sent as recorded, and the server took none of it. The file table already holds
                // what the pending bundles carry, so only the server's manifest says what to send.
                await cancelAhead()
                _ = await durable.result
                logger.notice(
                    "a file changed after its bundle was queued; reconciling with the server",
                    metadata: ["reason": "\(error.message)"])
                try state.updateSyncState { $0.needsResync = true }
                return false
            } catch {
                await cancelAhead()
                _ = await durable.result
                throw error
            }
            if case .failure(let error) = await durable.result {
                // The server has it; only a later replay of this kept bundle is at risk.
                logger.warning("could not fsync an outbox bundle", metadata: ["path": "\(path)", "error": "\(error)"])
            }
            switch outcome {
            case .applied(let reply):
                acked = reply.sequenceNumber
                try state.acknowledge(entry, sequence: acked)
                report.bundles += 1
                report.bytesSent += entry.size
                report.sequence = acked
                update { $0.bundlesSent += 1 }
            case .sequenceMismatch(let expected):
                await cancelAhead()
                let changes = localChanges
                try await serverSync.resolveMismatch(
                    expected: expected, acked: acked, kind: serverKind, outbox: outbox, info: serverInfo,
                    current: { changes.current(of: $0) })
                return false
            }
        }
        return true
    }

    /// Uploads `entry` as `sequence`; `after` names the bundle it must follow (two in flight),
    /// and `sending` is called when the body starts to go out.
    private func upload(
        _ entry: ClientState.OutboxEntry, sequence: Int64, after previous: String? = nil,
        sending: @escaping @Sendable () -> Void = {}
    ) async throws -> DeltaAPI.UploadOutcome {
        let path = state.outboxPath(entry.file)
        do {
            let outcome = try await withRetry {
                try await self.api.upload(
                    bundleAt: path, workspace: self.configuration.workspace, sequence: sequence, force: entry.force,
                    previousBundleID: previous
                ) { sent in
                    sending()
                    self.update { $0.bytesSent += sent }
                }
            }
            // A write (and its sync) only when there was an error to clear: not once per upload.
            if (try? state.syncState().lastError) != nil { _ = try? state.updateSyncState { $0.lastError = nil } }
            return outcome
        } catch let error as DeltaError {
            _ = try? state.updateSyncState { $0.lastError = "\(error.code): \(error.message)" }
            guard Self.isRejection(error) else { throw error }
            // The server will never take this bundle; the next run reconciles (the workspace on
            // disk is the truth, so nothing is lost).
            _ = try? state.updateSyncState { $0.needsResync = true }
            var rejected = error
            rejected.message = "the server rejected a bundle: \(error.message). Run again to reconcile with the server."
            throw rejected
        }
    }

    /// A reply that re-sending the same bundle cannot change: a 4xx about the bundle, or a
    /// compatible-core `200 {"success": false}` that is not about credentials.
    static func isRejection(_ error: DeltaError) -> Bool {
        switch error.httpStatus {
        case 400, 409, 413, 422: return true
        case 200: return ![.unauthorized, .forbidden, .rateLimited, .serverBusy, .notReady].contains(error.code)
        default: return false
        }
    }

    // MARK: - Helpers

    func withRetry<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        try await configuration.retry.run(
            onRetry: { error, attempt, wait in
                self.logger.warning(
                    "retrying", metadata: ["error": "\(error.message)", "attempt": "\(attempt)", "wait": "\(wait)"])
                self.update { $0.retryMessage = "retry \(attempt): \(error.message)" }
            },
            operation
        )
    }

    func update(_ change: (inout PushProgress) -> Void) {
        let snapshot = progress.withLock { value in
            change(&value)
            return value
        }
        progressHandler(snapshot)
    }
}
