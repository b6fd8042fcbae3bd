import CDeltaSys
import CoreMetrics
import DeltaCore
import DeltaGraph
import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// Keeps the code graph of every workspace (DESIGN §5): follows each change log on its own
/// cursor (`indexed_sequence`), never holding up an upload. Told of commits by the
/// `ChangePublisher`; on start it catches up every workspace from the database, so a restart
/// mid-queue resumes where the last indexing step committed. Several queued changes to one file
/// are processed once (a step covers up to `maxBundlesPerStep` log entries); the files of a step
/// are extracted in parallel off the cooperative pool. Each step commits its graph changes, its
/// invalidation record and the new `indexed_sequence` in one transaction, then announces the
/// record on `records` (the graph stream).
public final class GraphIndexer: Service, Sendable {
    /// Rebuilds a workspace's graph from scratch with no server running (`deltasync graph
    /// rebuild`), reading the file table `pageSize` records at a time. Returns the files and
    /// edges of the graph.
    public static func rebuild(
        storage: any DeltaStorage, blobs: BlobStore, workspace: String, logger: Logger,
        pageSize: Int = rebuildSliceFiles
    ) async throws -> (files: Int, edges: Int) {
        let indexer = GraphIndexer(
            storage: storage, blobs: blobs, changes: LocalChangePublisher(), metrics: ServerMetrics(), logger: logger,
            failpoints: Failpoints(), maxSubscribers: 1)
        let built = try await indexer.rebuild(workspace, pageSize: pageSize)
        return built.graph.withLock { ($0.nodeCount, $0.edgeCount) }
    }

    /// What `/status` reports of one workspace.
    public struct Progress: Sendable, Hashable {
        /// `none | indexing | ready | error`.
        public var status: String
        /// Operations of the log entries read and not yet indexed.
        public var pendingOperations: Int
        public var error: String?
    }

    /// One workspace's graph in memory and how far it is indexed.
    final class WorkspaceGraph: Sendable {
        let graph: Mutex<CodeGraph>
        let indexed: Atomic<Int64>

        init(_ graph: consuming CodeGraph, indexed: Int64) {
            self.graph = Mutex(graph)
            self.indexed = Atomic(indexed)
        }
    }

    static let maxBundlesPerStep = 256
    /// Bounds a step's transaction (its symbols are written in it; uploads commit between steps).
    static let maxPathsPerStep = 1_000
    /// A rebuild reads the file table this many records at a time, and extracts and commits at
    /// most this many files, and `rebuildSliceBytes` of them, at once. A slice's facts (every
    /// symbol's signature) are the transient part of a build's peak: slices of 32 MiB had the
    /// linux tree's build peak at 149 MiB, of 8 MiB at 119 MiB, in the same time.
    public static let rebuildSliceFiles = 1_000
    static let rebuildSliceBytes: Int64 = 8 << 20
    /// Files larger than this are not read (edges and symbols both; they are data, not source).
    static let maxReadSize: Int64 = 32 << 20

    /// Extraction runs on threads of its own at nice 10: under load the kernel gives the CPU to
    /// uploads first (which never wait for indexing); on an idle server indexing runs at full
    /// speed.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        pool.start()
        return pool
    }()

    static func backgroundPriority() { _ = cdeltasys_set_thread_nice(10) }

    let storage: any DeltaStorage
    let blobs: BlobStore
    let changes: any ChangePublisher
    /// Announces each committed invalidation record (`sequence` = its `to_sequence`).
    public let records: LocalChangePublisher
    let metrics: ServerMetrics
    let logger: Logger
    let failpoints: Failpoints
    /// False on a server started with `--no-graph`: every workspace reports `index_status` none.
    let enabled: Bool
    /// Upload activity: a large backlog is indexed in the pauses of a push (see `yieldToUploads`).
    let uploads: UploadGate?
    /// A backlog at most this large is indexed at once, whatever the uploads (an edit's latency).
    static let smallBacklog = 200
    /// The longest a large backlog waits for a pause in the uploads.
    static let maxDeferral: Duration = .seconds(300)

    private let graphs = Mutex<[String: WorkspaceGraph]>([:])
    private let loading = Mutex<[String: Task<WorkspaceGraph, any Error>]>([:])
    private let progress = Mutex<[String: Progress]>([:])
    private let pending = Mutex<Set<String>>([])
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init(
        storage: any DeltaStorage, blobs: BlobStore, changes: any ChangePublisher, metrics: ServerMetrics,
        logger: Logger, failpoints: Failpoints, maxSubscribers: Int, enabled: Bool = true, uploads: UploadGate? = nil
    ) {
        self.enabled = enabled
        self.uploads = uploads
        self.storage = storage
        self.blobs = blobs
        self.changes = changes
        self.records = LocalChangePublisher(maxSubscribers: maxSubscribers)
        self.metrics = metrics
        self.logger = logger
        self.failpoints = failpoints
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: - Running

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listen() }
                group.addTask { await self.work() }
                await group.next()
                group.cancelAll()
            }
        }
        records.finishAll()
    }

    /// Marks workspaces as needing indexing when a bundle commits (and all of them at start and
    /// after a lost subscription).
    private func listen() async {
        while !Task.isCancelled {
            let subscription = changes.subscribeInternally(workspace: nil)
            await markAllPending()
            await withTaskCancellationHandler {
                for await event in subscription {
                    if case .committed(let notice) = event { markPending(notice.workspace) }
                }
            } onCancel: {
                subscription.end()
            }
            // Ended by shutdown, or because this reader fell behind: resubscribe and catch up.
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    private func markAllPending() async {
        do {
            for workspace in try await storage.workspaces() { markPending(workspace.key) }
        } catch {
            logger.error("graph: cannot list workspaces", metadata: ["error": "\(error)"])
        }
    }

    func markPending(_ workspace: String) {
        pending.withLock { _ = $0.insert(workspace) }
        wake.yield()
    }

    private func work() async {
        for await _ in wakes {
            while !Task.isCancelled, let next = pending.withLock({ $0.popFirst() }) {
                await index(next)
            }
            if Task.isCancelled { return }
        }
    }

    private func index(_ key: String) async {
        do {
            try await catchUp(key)
        } catch is CancellationError {
            return
        } catch {
            logger.error("graph: indexing failed", metadata: ["workspace": "\(key)", "error": "\(error)"])
            setProgress(key) {
                $0.status = "error"
                $0.error = "\(error)"
            }
            // Retried on the next commit, or after a pause.
            Task {
                try? await Task.sleep(for: .seconds(5))
                self.markPending(key)
            }
        }
    }

    // MARK: - Status and queries

    /// The index status of a workspace whose record says it is at `lastSequence`.
    public func progress(of workspace: WorkspaceRecord) -> Progress {
        guard enabled else { return Progress(status: "none", pendingOperations: 0) }
        let known = progress.withLock { $0[workspace.key] }
        if let known, known.status == "error" { return known }
        if workspace.indexedSequence >= workspace.lastSequence {
            return Progress(status: workspace.lastSequence == 0 ? "none" : "ready", pendingOperations: 0)
        }
        return Progress(status: "indexing", pendingOperations: known?.pendingOperations ?? 0)
    }

    /// The graph of a workspace, loading it if it is not in memory yet.
    func graph(_ key: String) async throws -> WorkspaceGraph {
        if let loaded = graphs.withLock({ $0[key] }) { return loaded }
        // One load per workspace at a time: a query and the indexer asking together must not
        // both rebuild (their slices would interleave in the database).
        let task = loading.withLock { running -> Task<WorkspaceGraph, any Error> in
            if let load = running[key] { return load }
            let load = Task { try await self.load(key) }
            running[key] = load
            return load
        }
        defer { loading.withLock { _ = $0.removeValue(forKey: key) } }
        return try await task.value
    }

    private func setProgress(_ key: String, _ change: (inout Progress) -> Void) {
        progress.withLock { all in
            var value = all[key] ?? Progress(status: "indexing", pendingOperations: 0)
            change(&value)
            all[key] = value
        }
    }

    // MARK: - Indexing

    private func catchUp(_ key: String) async throws {
        let workspaceGraph = try await graph(key)
        while !Task.isCancelled {
            guard let record = try await storage.workspace(key) else { return }
            let indexed = workspaceGraph.indexed.load(ordering: .acquiring)
            if indexed >= record.lastSequence {
                metrics.gauge("deltasync_graph_queue_depth").record(0)
                setProgress(key) {
                    $0.status = "ready"
                    $0.pendingOperations = 0
                    $0.error = nil
                }
                return
            }
            if !record.retains(since: indexed) {
                _ = try await rebuild(key)
                continue
            }
            let page = try await nextStep(key, since: indexed)
            guard !page.isEmpty else { return }
            let queued = page.reduce(0) { $0 + $1.operations.count }
            setProgress(key) {
                $0.status = "indexing"
                $0.pendingOperations = queued
            }
            metrics.gauge("deltasync_graph_queue_depth").record(queued)
            if queued > Self.smallBacklog { await yieldToUploads() }
            try await step(key, workspaceGraph, page)
        }
    }

    /// The log entries of the next step: from `since`, up to `maxBundlesPerStep` of them and
    /// `maxPathsPerStep` operations (at least one entry, however large). Read in pages that double,
    /// 1, 2, 4, …: a backlog of large bundles (an initial push) is not decoded 256 entries at a
    /// time to use one, which cost seconds of CPU and a spike of memory per step.
    func nextStep(_ key: String, since: Int64) async throws -> [ChangeRecord] {
        var page: [ChangeRecord] = []
        var pathCount = 0
        var after = since
        var limit = 1
        while page.count < Self.maxBundlesPerStep {
            let read = try await storage.changes(
                workspace: key, since: after, limit: min(limit, Self.maxBundlesPerStep - page.count))
            for change in read {
                if !page.isEmpty && pathCount + change.operations.count > Self.maxPathsPerStep { return page }
                page.append(change)
                pathCount += change.operations.count
            }
            guard let last = read.last, read.count == limit, pathCount < Self.maxPathsPerStep else { return page }
            after = last.sequence
            limit *= 2
        }
        return page
    }

    /// Waits, up to `maxDeferral`, until no upload has been in flight for half a second: an
    /// initial push's backlog is indexed after it (or in its pauses) instead of taking the CPU and
    /// the database's write lock from it. Single edits never wait.
    private func yieldToUploads() async {
        guard let uploads else { return }
        let deadline = ContinuousClock.now + Self.maxDeferral
        while uploads.recentlyActive(quiet: .milliseconds(500)), ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Reads and extracts the current content of `paths` (nil facts: gone or not source).
    private func read(_ key: String, paths: [String]) async throws -> [FileUpdate] {
        let current = try await storage.files(workspace: key, paths: paths)
        return try await read(key, paths.map { ($0, current[PathKey($0)]) })
    }

    /// Extracts the given files (nil record: gone), 64 to a task, four tasks at a time.
    private func read(_ key: String, _ files: [(path: String, record: FileRecord?)]) async throws -> [FileUpdate] {
        let blobs = self.blobs
        let timer = metrics.timer("deltasync_graph_file_processing_seconds")
        let chunks = stride(from: 0, to: files.count, by: 64).map { Array(files[$0..<min($0 + 64, files.count)]) }
        var updates: [FileUpdate] = []
        updates.reserveCapacity(files.count)
        try await withThrowingTaskGroup(of: [FileUpdate].self) { group in
            var next = 0
            func submit() {
                guard next < chunks.count else { return }
                let chunk = chunks[next]
                next += 1
                group.addTask {
                    try await Self.pool.runIfActive {
                        Self.backgroundPriority()
                        return chunk.map { path, record in
                            guard let record else { return FileUpdate(path: path, exists: false) }
                            return Self.extract(path: path, record: record, blobs: blobs, timer: timer)
                        }
                    }
                }
            }
            for _ in 0..<4 { submit() }
            while let done = try await group.next() {
                updates += done
                try Task.checkCancellation()
                submit()
            }
        }
        return updates
    }

    static func extract(path: String, record: FileRecord, blobs: BlobStore, timer: CoreMetrics.Timer) -> FileUpdate {
        let isConfiguration = GraphConfiguration.isConfigurationFile(path)
        guard record.size <= maxReadSize,
            isConfiguration || Extractor.language(path: path, contents: []) != nil || record.mode & 0o111 != 0
        else { return FileUpdate(path: path, exists: true) }
        let started = ContinuousClock.now
        guard let bytes = try? FileSystem.readAll(blobs.path(for: record.sha256), limit: Int(maxReadSize)) else {
            return FileUpdate(path: path, exists: true)
        }
        let facts = Extractor.extract(path: path, contents: bytes)
        timer.recordNanoseconds(ServerMetrics.nanoseconds(ContinuousClock.now - started))
        return FileUpdate(path: path, exists: true, facts: facts, configuration: isConfiguration ? bytes : nil)
    }

    /// One indexing step over the log entries of `page`.
    private func step(_ key: String, _ workspaceGraph: WorkspaceGraph, _ page: [ChangeRecord]) async throws {
        let started = ContinuousClock.now
        var seen = Set<String>()
        var paths: [String] = []
        for change in page {
            for operation in change.operations {
                for path in [operation.sourcePath, operation.path].compactMap({ $0 }) where seen.insert(path).inserted {
                    paths.append(path)
                }
            }
        }
        let updates = try await read(key, paths: paths)
        let extracted = ContinuousClock.now
        let before = try await storage.symbols(workspace: key, paths: paths)
        let invalidation = try await Self.pool.runIfActive {
            Self.backgroundPriority()
            return workspaceGraph.graph.withLock { $0.apply(updates) }
        }
        let updated = ContinuousClock.now
        let delta = Self.symbolDelta(updates: updates, before: before)
        let from = workspaceGraph.indexed.load(ordering: .acquiring) + 1
        let to = page.last?.sequence ?? from - 1
        var record = Self.record(
            from: from, to: to, invalidation: invalidation, delta: delta,
            timings: ["extract": Self.ms(extracted - started), "update": Self.ms(updated - extracted)])
        let commit = GraphCommit(
            workspace: key, reset: false, modelVersion: DeltaGraph.modelVersion, indexedSequence: to,
            upserts: updates.compactMap { update in update.facts.map { (update.path, $0) } },
            deletes: updates.filter { $0.facts == nil }.map(\.path), record: record)
        await failpoints.reach(.graphBeforeCommit, workspace: key)
        try Task.checkCancellation()
        try await storage.commitGraph(commit)
        workspaceGraph.indexed.store(to, ordering: .releasing)
        record.timingsMs["persist"] = Self.ms(ContinuousClock.now - updated)
        metrics.timer("deltasync_graph_update_seconds").recordNanoseconds(
            ServerMetrics.nanoseconds(ContinuousClock.now - started))
        records.publish(ChangeNotice(workspace: key, sequence: to))
        // A large step's symbols are gone now; hand their pages back to the kernel.
        if paths.count >= 100 { _ = cdeltasys_malloc_trim() }
    }

    /// Loads a workspace's persisted graph (or builds it when there is none, or it is of
    /// another model version).
    private func load(_ key: String) async throws -> WorkspaceGraph {
        guard let persisted = try await storage.graphFiles(workspace: key),
            persisted.modelVersion == DeltaGraph.modelVersion
        else { return try await rebuild(key) }
        let (_, files) = try await storage.files(workspace: key)
        var known: [String: FileFacts] = [:]
        for file in persisted.files { known[file.path] = file.facts }
        let facts = known
        let blobs = self.blobs
        let graph = try await Self.pool.runIfActive {
            Self.backgroundPriority()
            return CodeGraph(
                building: files.map { record in
                    let configuration =
                        GraphConfiguration.isConfigurationFile(record.path)
                        ? try? FileSystem.readAll(blobs.path(for: record.sha256), limit: 1 << 20) : nil
                    return FileUpdate(
                        path: record.path, exists: true, facts: facts[record.path], configuration: configuration)
                })
        }
        let loaded = WorkspaceGraph(graph, indexed: persisted.indexedSequence)
        graphs.withLock { $0[key] = loaded }
        return loaded
    }

    /// Builds a workspace's graph from its current file table, replacing what was persisted.
    @discardableResult
    func rebuild(_ key: String, pageSize: Int = rebuildSliceFiles) async throws -> WorkspaceGraph {
        await yieldToUploads()
        let started = ContinuousClock.now
        let previous = graphs.withLock { $0[key] }?.indexed.load(ordering: .acquiring) ?? 0
        // The file table is read a page at a time: its 100,000 records held through the whole
        // build were a third of the server's peak memory. Pages read after later commits show
        // those too; the catch-up that follows replays every change after `sequence` against
        // the files as they are then, which gives the same graph.
        let sequence = try await storage.workspace(key)?.lastSequence ?? 0
        var remaining = try await storage.fileCount(workspace: key)
        if remaining > Self.smallBacklog {
            // As `watch` does after its catch-up: the code of the push just received stops
            // counting in the server's RSS; what the build runs faults back in from the page
            // cache. The kernel maps code 64 KiB around each first use, so its code stays resident
            // wide: 31–35 MiB of the kernel tree's build peak was the binary, 21–23 MiB with this.
            // (A workspace's first few files are not worth reading /proc/self/smaps for.)
            _ = cdeltasys_drop_code_pages()
        }
        setProgress(key) {
            $0.status = "indexing"
            $0.pendingOperations = remaining
        }
        // Read, extracted and persisted in slices, only the facts without symbols kept for the
        // graph (a kernel tree has millions of symbols). The model version is written last, so a
        // restart in between builds again.
        // The graph is built slice by slice too (creates in any order give the same graph), so
        // the facts of the whole tree are never held at once.
        var empty = CodeGraph()
        empty.reserveCapacity(files: remaining)
        let rebuilt = WorkspaceGraph(empty, indexed: sequence)
        // Only the first `listLimit` paths go in the record (the pages come in path order).
        let limit = InvalidationRecord.listLimit
        var changed: [String] = []
        var nodes: [String] = []
        var (changedCount, nodeCount) = (0, 0)
        var updating: Duration = .zero
        var after: String?
        var first = true
        while true {
            // A stop waits for one slice at most (nothing of a rebuild counts until its last write).
            try Task.checkCancellation()
            let page = try await storage.files(workspace: key, after: after, limit: max(1, pageSize))
            guard let last = page.last else { break }
            after = last.path
            // Slices of at most 1,000 files and 8 MiB: a directory of generated register headers
            // (50,000 macros each) must not put a million symbols in memory at once.
            var sliceStart = 0
            var sliceBytes: Int64 = 0
            var slices: [Range<Int>] = []
            for (position, file) in page.enumerated() {
                if sliceBytes >= Self.rebuildSliceBytes {
                    slices.append(sliceStart..<position)
                    sliceStart = position
                    sliceBytes = 0
                }
                sliceBytes += min(file.size, Self.maxReadSize)
            }
            slices.append(sliceStart..<page.count)
            for range in slices {
                try Task.checkCancellation()
                let part = try await read(key, page[range].map { ($0.path, $0) })
                try await storage.commitGraph(
                    GraphCommit(
                        workspace: key, reset: first, modelVersion: 0, indexedSequence: nil,
                        upserts: part.compactMap { update in update.facts.map { (update.path, $0) } }, deletes: [],
                        record: nil))
                first = false
                let stripped = part.map { update in
                    var update = update
                    update.facts?.symbols = []
                    return update
                }
                changedCount += stripped.count
                changed += stripped.prefix(limit - changed.count).map(\.path)
                let sources = stripped.filter { $0.facts != nil }
                nodeCount += sources.count
                nodes += sources.prefix(limit - nodes.count).map(\.path)
                let before = ContinuousClock.now
                try await Self.pool.runIfActive {
                    Self.backgroundPriority()
                    rebuilt.graph.withLock { _ = $0.apply(stripped) }
                }
                updating += ContinuousClock.now - before
                remaining = max(0, remaining - range.count)
                setProgress(key) { [remaining] in $0.pendingOperations = remaining }
                _ = cdeltasys_malloc_trim()
            }
        }
        changed.sort()
        nodes.sort()
        let extracted = ContinuousClock.now - updating
        let updated = ContinuousClock.now
        let record = InvalidationRecord(
            fromSequence: previous + 1, toSequence: sequence, changed: changed, changedCount: changedCount,
            symbolDelta: [], invalidated: nodes, invalidatedCount: nodeCount,
            timingsMs: ["extract": Self.ms(extracted - started), "update": Self.ms(updated - extracted)],
            truncated: changedCount > limit || nodeCount > limit)
        await failpoints.reach(.graphBeforeCommit, workspace: key)
        try Task.checkCancellation()
        try await storage.commitGraph(
            GraphCommit(
                workspace: key, reset: first, modelVersion: DeltaGraph.modelVersion, indexedSequence: sequence,
                upserts: [], deletes: [], record: record))
        graphs.withLock { $0[key] = rebuilt }
        _ = cdeltasys_malloc_trim()
        logger.notice(
            "graph: built", metadata: ["workspace": "\(key)", "files": "\(nodeCount)", "sequence": "\(sequence)"])
        if sequence > previous { records.publish(ChangeNotice(workspace: key, sequence: sequence)) }
        return rebuilt
    }

    // MARK: - Records

    static func symbolDelta(updates: [FileUpdate], before: [String: [Symbol]]) -> [SymbolDeltaEntry] {
        var entries: [SymbolDeltaEntry] = []
        for update in updates.sorted(by: { $0.path < $1.path }) {
            let old = Dictionary(grouping: before[update.path] ?? [], by: \.name)
            let new = Dictionary(grouping: update.facts?.symbols ?? [], by: \.name)
            let added = new.keys.filter { old[$0] == nil }.sorted()
            let removed = old.keys.filter { new[$0] == nil }.sorted()
            let changed = new.keys.filter { name in
                guard let was = old[name], let now = new[name] else { return false }
                return Set(was.map { [$0.kind, $0.signature] }) != Set(now.map { [$0.kind, $0.signature] })
            }.sorted()
            if !added.isEmpty || !removed.isEmpty || !changed.isEmpty {
                entries.append(SymbolDeltaEntry(path: update.path, added: added, removed: removed, changed: changed))
            }
        }
        return entries
    }

    static func record(
        from: Int64, to: Int64, invalidation: Invalidation, delta: [SymbolDeltaEntry], timings: [String: Double]
    ) -> InvalidationRecord {
        let limit = InvalidationRecord.listLimit
        return InvalidationRecord(
            fromSequence: from, toSequence: to, changed: Array(invalidation.changed.prefix(limit)),
            changedCount: invalidation.changed.count, symbolDelta: Array(delta.prefix(limit)),
            invalidated: Array(invalidation.invalidated.prefix(limit)),
            invalidatedCount: invalidation.invalidated.count,
            timingsMs: timings,
            truncated: invalidation.changed.count > limit || invalidation.invalidated.count > limit
                || delta.count > limit)
    }

    static func ms(_ duration: Duration) -> Double {
        Double(ServerMetrics.nanoseconds(duration)) / 1e6
    }
}
