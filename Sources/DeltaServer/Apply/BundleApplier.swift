import DeltaCore
import Foundation
import Logging
import NIOPosix
import Synchronization

/// The upload pipeline after the body has arrived (DESIGN §4): validate while decompressing →
/// blobs stored → under the workspace's lock: idempotency and sequence checks, plan against the
/// file table, one transaction (after the blobs' flush) → under the copy's lock (`materialising`):
/// materialised copy → reply.
final class BundleApplier: Sendable {
    let storage: any DeltaStorage
    let blobs: BlobStore
    let materializer: Materializer
    let configuration: ServerConfiguration
    let counters: ServerCounters
    let logger: Logger
    let degraded: DegradedWorkspaces
    let space: SpaceGuard
    let publisher: any ChangePublisher
    /// Where the stream's subscribers look for an entry first: each commit's entry is encoded
    /// here before it is announced, so a save reaches them without a read of the log.
    let streamEvents: StreamEventCache
    private let locks = WorkspaceLocks()
    /// Uploads in flight per workspace, so a pipelined one waits for the one before it.
    let order = UploadOrder()

    /// Entries of up to this many operations are encoded for the stream as they commit (a save's
    /// few); a large bundle's entry is read from the log by the first subscriber that needs it.
    static let preparedEventOperations = 64

    /// Free space is checked again every this many uncompressed bytes while a bundle unpacks.
    static let spaceCheckInterval: Int64 = 16 << 20

    init(
        storage: any DeltaStorage, blobs: BlobStore, materializer: Materializer, configuration: ServerConfiguration,
        counters: ServerCounters, logger: Logger, degraded: DegradedWorkspaces, space: SpaceGuard,
        publisher: any ChangePublisher, streamEvents: StreamEventCache
    ) {
        self.publisher = publisher
        self.streamEvents = streamEvents
        self.storage = storage
        self.blobs = blobs
        self.materializer = materializer
        self.configuration = configuration
        self.counters = counters
        self.logger = logger
        self.degraded = degraded
        self.space = space
    }

    var temporaryDirectory: String { configuration.workDirectory + "/tmp" }

    func apply(_ upload: UploadRequest) async throws -> UploadResponse {
        let started = ContinuousClock.now
        let failpoints = configuration.failpoints
        await failpoints.reach(.afterReceive, workspace: upload.workspace)
        let bundle: ValidatedBundle
        if let streamed = upload.streamed {
            // An uncompressed bundle was read and checked as it arrived.
            bundle = streamed.bundle
        } else {
            bundle = try await read(upload)
        }
        // The spool files the apply moved into the blob store are not unlinked again by name.
        let adoptedSpool = AdoptedSpool()
        defer { bundle.discard(except: adoptedSpool.paths) }
        await failpoints.reach(.afterValidate, workspace: upload.workspace)
        let validated = ContinuousClock.now
        let requested = upload.sequenceNumber ?? bundle.manifest.sequenceNumber
        if let requested, requested <= 0 {
            throw DeltaError(.invalidRequest, "sequence_number must be a positive integer, got \(requested)")
        }
        // The content goes into the store before the workspace's lock is taken: a pipelined
        // upload stores its files while the one before it commits. Blobs are named by their
        // content, so whatever this upload's fate, nothing stored can be wrong (an upload
        // refused below leaves blobs no file names, as a crash before the commit does).
        let content = try await store(bundle, upload)
        adoptedSpool.paths = content.consumed
        let stored = ContinuousClock.now
        // A second upload in flight waits for the first, whichever arrived first: they then
        // apply in order instead of the second being refused.
        if upload.previousBundleID != nil, let ticket = upload.ticket, order.hasEarlier(than: ticket) {
            counters.uploadWaits(1)
            defer { counters.uploadWaits(-1) }
            try await order.waitForEarlier(ticket)
        }
        let applied = try await locks.withLock(upload.workspace) {
            try await self.applyLocked(
                upload, bundle: bundle, content: content, requested: requested,
                times: (started, validated, stored))
        }
        guard let copy = applied.copy else {
            if applied.response.duplicate {
                // A bundle sent again (its first reply lost) is answered once its copy is made,
                // as the first reply would have been: that copy may still be in the making.
                counters.uploadWaits(1)
                defer { counters.uploadWaits(-1) }
                await materialising.acquire(upload.workspace)
                await materialising.release(upload.workspace)
            }
            return applied.response
        }
        // The copy's lock was taken before the workspace's was let go: copies are made one at a
        // time in commit order, while the next bundle plans and commits.
        await materialise(copy)
        await materialising.release(upload.workspace)
        return applied.response
    }

    /// Held while a workspace's materialised copy is written: taken under the workspace's lock
    /// once a bundle has committed, let go when its copy is made. So the next bundle plans and
    /// commits while this one's copy is made (on two cores, the two overlap), and copies are
    /// still made one at a time, in commit order. Lock order: the workspace's, then the copy's.
    private let materialising = WorkspaceLocks()

    /// A committed bundle whose materialised copy is still to be made.
    struct PendingCopy: Sendable {
        var workspace: String
        var sequence: Int64
        var fileChanges: [FileChange]
        var newBlobModes: [String: UInt32]
        /// The log line's fields so far.
        var log: Logger.Metadata
    }

    /// Makes the copy of a committed bundle (the caller holds the copy's lock), then compacts
    /// the log (which never drops what the copy has not caught up with). A copy that cannot be
    /// made marks the workspace degraded; a later bundle's copy is then not attempted (the copy
    /// is not at the sequence before it) until the repair rebuilds it from the database.
    private func materialise(_ copy: PendingCopy) async {
        let started = ContinuousClock.now
        let key = copy.workspace
        let sequence = copy.sequence
        if degraded.reason(key) == nil {
            do {
                let materializer = self.materializer
                try await Blocking.run {
                    try materializer.apply(workspace: key, changes: copy.fileChanges, blobModes: copy.newBlobModes)
                }
                try await storage.setMaterializedSequence(workspace: key, sequence: sequence)
            } catch {
                // The change is committed and the reply says so; the copy is rebuilt from the
                // database by the background retry, the next upload, or `deltasync repair`.
                degraded.mark(key, reason: "materialising sequence \(sequence) failed")
                logger.error(
                    "materialising failed; the workspace is degraded until its copy is repaired",
                    metadata: ["workspace": "\(key)", "bundle.sequence": "\(sequence)", "error": "\(error)"]
                )
            }
        }
        await configuration.failpoints.reach(.afterMaterialise, workspace: key)
        let materialised = ContinuousClock.now
        if let keep = configuration.retainChanges {
            do {
                try await Compaction(storage: storage).compact(workspace: key, keep: keep)
            } catch {
                logger.warning("compaction failed", metadata: ["workspace": "\(key)", "error": "\(error)"])
            }
        }
        var metadata = copy.log
        metadata["ms.materialise"] = "\(Self.milliseconds(started, materialised))"
        logger.info("bundle applied", metadata: metadata)
    }

    /// What `store` put in the blob store, and its flush.
    struct StoredContent: Sendable {
        var flushing: PendingFlush
        /// The modes of the blobs stored now: the copy's links need not look them up.
        var newBlobModes: [String: UInt32]
        /// The named spool files moved into the store (or dropped as held already).
        var consumed: Set<String>
    }

    /// Stores the bundle's content (each new blob with the mode of the first file to bring it)
    /// and what is kept of the bundle itself, and starts their flush.
    private func store(_ bundle: ValidatedBundle, _ upload: UploadRequest) async throws -> StoredContent {
        let blobs = self.blobs
        return try await Blocking.run {
            var adopted = BlobStore.Adopted()
            var newBlobModes: [String: UInt32] = [:]
            newBlobModes.reserveCapacity(bundle.operations.count)
            var consumed = Set<String>()
            let root = BlobStore.RootDirectory(blobs)
            let content = ApplyPlanner.contentBlobs(bundle.operations)
            for (sha256, blob) in content {
                if try blobs.adopt(
                    blob.content.path, anonymous: blob.content.anonymous, sha256: sha256, mode: blob.mode,
                    spoolMode: blob.content.spoolMode, root: root, into: &adopted)
                {
                    newBlobModes[sha256] = blob.mode
                }
                // An anonymous spool file has no name for the bundle's `discard` to unlink.
                if blob.content.anonymous == nil { consumed.insert(blob.content.path) }
            }
            if let streamed = upload.streamed {
                // Kept as its recipe, which names every spooled file's content: content no
                // operation brings (a large metadata document) is stored too.
                for range in streamed.bundle.contentRanges where content[range.sha256] == nil {
                    try blobs.adopt(range.spool, anonymous: range.anonymous, sha256: range.sha256, into: &adopted)
                    if range.anonymous == nil { consumed.insert(range.spool) }
                }
                try blobs.adopt(
                    streamed.recipePath, sha256: upload.bundleSHA256, suffix: BundleRecipe.suffix, into: &adopted)
            } else {
                try blobs.adopt(upload.bundlePath, sha256: upload.bundleSHA256, into: &adopted)
            }
            return StoredContent(
                flushing: blobs.startFlush(adopted), newBlobModes: newBlobModes, consumed: consumed)
        }
    }

    /// Reads and checks a spooled (compressed) bundle, on the blocking pool.
    private func read(_ upload: UploadRequest) async throws -> ValidatedBundle {
        let reader = BundleReader(limits: configuration.limits, temporaryDirectory: temporaryDirectory)
        let failpoints = configuration.failpoints
        let counters = self.counters
        let space = self.space
        let bundlePath = upload.bundlePath
        let workspace = upload.workspace
        return try await Blocking.run {
            var checkedAt: Int64 = 0
            var reported = false
            return try reader.read(path: bundlePath) { inflated in
                if !reported {
                    reported = true
                    failpoints.reachBlocking(.duringValidate, workspace: workspace)
                }
                counters.setInflated(inflated)
                if inflated - checkedAt >= Self.spaceCheckInterval {
                    checkedAt = inflated
                    try space.check(adding: 0)
                }
            }
        }
    }

    private func applyLocked(
        _ upload: UploadRequest, bundle: ValidatedBundle, content: StoredContent, requested: Int64?,
        times: (started: ContinuousClock.Instant, validated: ContinuousClock.Instant, stored: ContinuousClock.Instant)
    ) async throws -> (response: UploadResponse, copy: PendingCopy?) {
        let (started, validated, stored) = times
        let flushing = content.flushing
        let locked = ContinuousClock.now
        let key = upload.workspace
        let bundleID = bundle.manifest.bundleID
        let operations = bundle.operations
        let query = ApplyPlanner.query(for: operations)
        if query.hashes.contains(where: { $0.algorithm == .sha1 }) {
            // A move finds its content by SHA-1: every file's must be known first.
            try await fillSHA1(key)
        }
        let context = try await storage.uploadContext(workspace: key, bundleID: bundleID, files: query)
        let workspace = context.workspace
        let last = workspace?.lastSequence ?? 0
        if let existing = context.existing {
            return (try await duplicate(existing, upload: upload, last: last), nil)
        }
        if !upload.force, let requested, requested != last + 1 {
            throw Self.sequenceMismatch(expected: last + 1, received: requested)
        }
        // A pipelined bundle was made on top of the one before it: never apply it on another.
        if !upload.force, let previous = upload.previousBundleID {
            let before = context.lastBundleID
            if before != previous {
                var error = Self.sequenceMismatch(expected: last + 1, received: requested ?? last + 1)
                error.message =
                    "previous_bundle_id \(previous) is not the bundle at sequence \(last)"
                    + (before.map { " (\($0) is)" } ?? "") + "; this bundle was made on top of it"
                throw error
            }
        }
        if degraded.reason(key) != nil {
            // Try the repair once more now; while it fails, the workspace stays read-only.
            try await repairDegradedLocked(key)
        }
        let sequence = last + 1
        let plan = try ApplyPlanner.plan(operations, snapshot: context.files)

        if configuration.failpoints.watches(.afterBlobs) {
            // The point's state is what it names: the blobs durable, nothing committed.
            _ = try await Blocking.run { try flushing.wait() }
            await configuration.failpoints.reach(.afterBlobs, workspace: key)
        }
        let planned = ContinuousClock.now

        let milliseconds = Double(ServerMetrics.nanoseconds(started.duration(to: .now))) / 1e6
        let change = ChangeRecord(
            sequence: sequence, bundleID: bundleID, bundleSHA256: upload.bundleSHA256, bundleSize: upload.bundleSize,
            appliedAt: Timestamp.now(), counts: plan.counts, operations: plan.changeOperations,
            processingTimeMs: (milliseconds * 100).rounded() / 100
        )
        let outcome = try await storage.commit(
            BundleCommit(
                workspace: key, workspacePath: upload.workspacePath,
                collectionName: upload.collectionName ?? workspace?.collectionName
                    ?? WorkspaceIdentity.collectionName(forPath: upload.workspacePath ?? key),
                sequence: sequence, change: change, fileChanges: plan.fileChanges
            ),
            blobsDurable: { try flushing.wait() }
        )
        let written = ContinuousClock.now
        switch outcome {
        case .committed:
            break
        case .duplicate(let existing):
            return (try await duplicate(existing, upload: upload, last: sequence - 1), nil)
        case .sequenceMoved(let current):
            throw Self.sequenceMismatch(expected: current + 1, received: requested ?? sequence)
        }
        if publisher.subscriberCount > 0, change.operations.count <= Self.preparedEventOperations {
            streamEvents.store(
                FeedRoutes.encode(change.entry, sequence: sequence), workspace: key, sequence: sequence)
        }
        publisher.publish(ChangeNotice(workspace: key, sequence: sequence))
        let committed = ContinuousClock.now
        await configuration.failpoints.reach(.afterCommit, workspace: key)
        counters.bundleApplied(duration: started.duration(to: .now))

        // The copy is made once the workspace's lock is let go (`materialise`), holding the
        // copy's lock, taken here so that copies follow commits in order.
        await materialising.acquire(key)
        let copy = PendingCopy(
            workspace: key, sequence: sequence, fileChanges: plan.fileChanges, newBlobModes: content.newBlobModes,
            log: [
                "workspace": "\(key)", "bundle.id": "\(bundleID)", "bundle.sequence": "\(sequence)",
                "bundle.operations": "\(plan.changeOperations.count)",
                "ms.receive": "\(Self.milliseconds(upload.arrived, started))",
                "ms.validate": "\(Self.milliseconds(started, validated))",
                "ms.blobs": "\(Self.milliseconds(validated, stored))",
                "ms.wait": "\(Self.milliseconds(stored, locked))",
                "ms.plan": "\(Self.milliseconds(locked, planned))",
                "ms.flush": "\(Self.milliseconds(flushing.elapsed ?? .zero))",
                "ms.commit": "\(Self.milliseconds(planned, written))",
                "ms.publish": "\(Self.milliseconds(written, committed))",
            ])
        let response = UploadResponse(
            bundleID: bundleID, workspace: key, sequenceNumber: sequence, nextSequence: sequence + 1,
            processedOperations: plan.counts, processingTimeMs: change.processingTimeMs, duplicate: false
        )
        return (response, copy)
    }

    /// Works out the SHA-1 of every current file of `key` stored without one (content of bundles
    /// whose metadata named no SHA-1, such as our client's), from its blob, so that a lookup by
    /// SHA-1 (an existing client's move) finds whatever the workspace holds. Under the
    /// workspace's lock; once done, only later bundles of ours add files without one.
    private func fillSHA1(_ key: String) async throws {
        let started = ContinuousClock.now
        var filled = 0
        var seen = Set<String>()
        while true {
            let files = try await storage.filesWithoutSHA1(workspace: key, limit: Self.sha1FillBatch)
            if files.isEmpty { break }
            // Each pass must fill what it read; never go round again on the same files.
            guard files.filter({ seen.insert($0.path).inserted }).count > 0 else {
                throw DeltaError(.internalError, "the SHA-1 of files of workspace '\(key)' could not be recorded")
            }
            let blobs = self.blobs
            let digests = try await Blocking.run {
                try files.map { file in (path: file.path, sha256: file.sha256, sha1: try Self.sha1(of: file, in: blobs)) }
            }
            try await storage.setSHA1(workspace: key, digests)
            filled += files.count
        }
        if filled > 0 {
            logger.notice(
                "worked out the SHA-1 of files stored without one, for a move by SHA-1",
                metadata: [
                    "workspace": "\(key)", "files": "\(filled)", "ms": "\(Self.milliseconds(started, .now))",
                ])
        }
    }

    static let sha1FillBatch = 1_000

    private static func sha1(of file: FileRecord, in blobs: BlobStore) throws -> String {
        let blob = "the blob of '\(PathRules.printable(file.path))' (sha256:\(file.sha256))"
        guard let input = try? RawFile.open(reading: blobs.path(for: file.sha256)),
            let (sha1, size) = try? SHA1Hasher.hash(input)
        else {
            throw DeltaError(.internalError, "\(blob) cannot be read to work out its SHA-1")
        }
        guard size == file.size else {
            throw DeltaError(.internalError, "\(blob) holds \(size) bytes, not \(file.size)")
        }
        return sha1
    }

    // MARK: - Degraded workspaces

    /// Retries the repair of every degraded workspace (the background retry calls this).
    func retryDegraded() async {
        for (key, _) in degraded.all {
            do {
                try await locks.withLock(key) { try await self.repairDegradedLocked(key) }
            } catch {
                // Still degraded; logged by the attempt.
            }
        }
    }

    /// Rebuilds the copy of `key` from the database; on failure the workspace stays degraded and
    /// the upload that asked is refused with `503 WORKSPACE_DEGRADED`.
    private func repairDegradedLocked(_ key: String) async throws {
        // A copy still being made (of the bundle before) is done before the rebuild.
        await materialising.acquire(key)
        do {
            let files = try await materializer.rebuild(workspace: key, storage: storage)
            degraded.clear(key)
            await materialising.release(key)
            logger.notice("degraded workspace repaired", metadata: ["workspace": "\(key)", "files": "\(files)"])
        } catch {
            await materialising.release(key)
            let reason = degraded.reason(key) ?? "repair failed"
            logger.error("repair failed", metadata: ["workspace": "\(key)", "error": "\(error)"])
            throw DeltaError(
                .workspaceDegraded,
                "workspace '\(key)' is read-only: its materialised copy could not be repaired (\(reason)); "
                    + "the server retries, or run 'deltasync repair --workspace \(key)'",
                retryAfter: 30
            )
        }
    }

    private func duplicate(_ existing: ChangeRecord, upload: UploadRequest, last: Int64) async throws
        -> UploadResponse
    {
        guard try await sameBundle(existing, upload) else {
            throw DeltaError(
                .bundleIDConflict,
                "bundle_id \(existing.bundleID) was already applied as sequence \(existing.sequence) with different content",
                details: ["bundle_id": .string(existing.bundleID), "sequence_number": .int(existing.sequence)]
            )
        }
        return UploadResponse(
            bundleID: existing.bundleID, workspace: upload.workspace, sequenceNumber: existing.sequence,
            nextSequence: last + 1, processedOperations: existing.counts, processingTimeMs: existing.processingTimeMs,
            duplicate: true
        )
    }

    /// Whether `upload` is the bundle `existing` logged. An uncompressed bundle logged by a server
    /// from before `BundleRecipe.Identity` is named by the SHA-256 of its bytes: that is made
    /// again from the upload's recipe (stored by `store`) before the two are called different.
    private func sameBundle(_ existing: ChangeRecord, _ upload: UploadRequest) async throws -> Bool {
        if existing.bundleSHA256 == upload.bundleSHA256 { return true }
        guard upload.streamed != nil else { return false }
        let recipe = blobs.path(for: upload.bundleSHA256) + BundleRecipe.suffix
        let blobs = self.blobs
        return try await Blocking.run { try BundleRecipe.bodySHA256(recipe: recipe, blobs: blobs) }
            == existing.bundleSHA256
    }

    /// Milliseconds from `start` to `end`, to a hundredth, for the log (a save's steps each take
    /// about one).
    static func milliseconds(_ start: ContinuousClock.Instant, _ end: ContinuousClock.Instant) -> String {
        milliseconds(start.duration(to: end))
    }

    static func milliseconds(_ duration: Duration) -> String {
        let hundredths = ServerMetrics.nanoseconds(duration) / 10_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    static func sequenceMismatch(expected: Int64, received: Int64) -> DeltaError {
        DeltaError(
            .sequenceMismatch, "expected sequence \(expected), received \(received)",
            details: ["expected_sequence": .int(expected), "received_sequence": .int(received)]
        )
    }
}

/// RFC 3339 UTC timestamps.
enum Timestamp {
    static func now() -> String { string(Date()) }

    static func string(_ date: Date) -> String { RFC3339.string(date, milliseconds: true) }
}

/// The spool files of an upload that its apply moved into the blob store (renamed, or dropped
/// as a blob already held): the bundle's `discard` does not unlink them again by name, which in a
/// first push of 100,000 files was 100,000 calls that each failed.
final class AdoptedSpool: Sendable {
    private let storage = Mutex<Set<String>>([])

    var paths: Set<String> {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
