import CDeltaSys
public import DeltaCore
import Dispatch
import Foundation
public import Logging
import Synchronization

/// The client's core, shared by `push` and `watch`: learn the server's state (reconciling
/// through its manifest when the local state cannot be trusted), detect changes on all or part
/// of the tree, write them as bundles to the outbox, and drain the outbox in order.
///
/// The outbox makes it crash-safe: a bundle is written and fsynced, then recorded together with
/// the file-table changes it carries in one transaction, and only marked acknowledged after the
/// server said so. Killed at any moment, the next run replays what is pending; bundle ids make
/// replays idempotent on the server.
public final class SyncEngine: Sendable {
    public let configuration: PushConfiguration
    public let state: ClientState
    let logger: Logger
    let ignore: IgnoreRules
    private let progress = Mutex(PushProgress())
    private let progressHandler: @Sendable (PushProgress) -> Void
    private let serverInfo = Mutex<ServerInfo?>(nil)

    public init(
        configuration: PushConfiguration, logger: Logger,
        progress: @escaping @Sendable (PushProgress) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.progressHandler = progress
        state = try ClientState(directory: configuration.stateDirectory)
        try state.removeOrphans()
        ignore = IgnoreRules(root: configuration.root, stateDirectoryName: configuration.stateDirectoryNameInsideRoot)
    }

    var api: DeltaAPI {
        DeltaAPI(baseURL: configuration.serverURL, token: configuration.token, timeout: configuration.requestTimeout)
    }

    // MARK: - Server state

    /// What `prepare` learned.
    public struct Prepared: Sendable {
        public var status: StatusResponse
        public var resynced: Bool
    }

    /// Asks the server for its sequence and limits; reconciles with its manifest when the local
    /// state is missing, belongs elsewhere, or disagrees with nothing pending to explain it.
    public func prepare() async throws -> Prepared {
        update { $0.phase = .connecting }
        let status = try await withRetry { try await self.api.status(self.configuration.workspace) }
        serverInfo.withLock { $0 = status.serverInfo }
        if let known = try state.meta("workspace_key"), known != status.workspace {
            logger.warning("state belongs to another workspace; reconciling", metadata: ["workspace.old": "\(known)"])
            try state.setMeta("needs_resync", "1")
        }
        try state.setMeta("workspace_key", status.workspace)
        try state.setMeta("server", configuration.serverURL)
        var resync = try state.meta("needs_resync") == "1"
        let acked = try state.ackedSequence
        if !resync, try state.pending().isEmpty, status.lastSequence != acked {
            // Behind us (restored from a backup): replay what it lost if we still hold it all.
            var replayed = false
            if status.lastSequence < acked {
                replayed = try await replayRetained(from: status.lastSequence + 1, upTo: acked)
            }
            resync = !replayed
        }
        if resync { try await resynchronise() }
        return Prepared(status: status, resynced: resync)
    }

    /// Replaces the local idea of the server's tree with its manifest (keeping stat fingerprints
    /// where the content matches, so unchanged files are not read again).
    private func resynchronise() async throws {
        let manifest = try await withRetry { try await self.api.manifest(self.configuration.workspace) }
        let known = try state.files()
        var base: [ClientState.FileState] = []
        for file in manifest.files where file.contentHash.algorithm == .sha256 {
            if let local = known[file.path], local.sha256 == file.contentHash.hex,
                local.mode & 0o111 == file.mode & 0o111
            {
                base.append(local)
            } else {
                base.append(
                    ClientState.FileState(
                        path: file.path, size: file.sizeBytes, mtimeNanoseconds: -1, ctimeNanoseconds: -1, inode: 0,
                        mode: file.mode, sha256: file.contentHash.hex
                    )
                )
            }
        }
        try state.reset(keepingFiles: false)
        try state.replaceFiles(base)
        try state.setAckedSequence(manifest.sequence)
        try state.setMeta("needs_resync", nil)
        logger.info(
            "reconciled with the server's manifest",
            metadata: ["sequence": "\(manifest.sequence)", "files": "\(base.count)"])
    }

    // MARK: - Detection

    /// Scans the whole workspace and compares it with the file table.
    public func detectAll(report: inout PushReport) throws -> ChangeSet {
        update { $0.phase = .scanning }
        ignore.invalidateAll()
        // Load the file table while the tree is walked: the two are independent.
        let state = self.state
        let loaded = Mutex<Result<[String: ClientState.FileState], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = Result { try state.files() }
            loaded.withLock { $0 = result }
            done.signal()
        }
        let scanned: Result<ScanResult, any Error> = Result {
            try TreeScanner(root: configuration.root, ignore: ignore).scan()
        }
        done.wait()
        let scan = try scanned.get()
        let known = try loaded.withLock { $0 }?.get() ?? [:]
        report.filesScanned += scan.files.count
        report.skipped += scan.skipped.map { PushReport.SkippedFile(path: $0.path, reason: $0.reason) }
        for skipped in scan.skipped {
            logger.warning("skipped", metadata: ["path": "\(skipped.path)", "reason": "\(skipped.reason)"])
        }
        update {
            $0.phase = .hashing
            $0.filesScanned = scan.files.count
        }
        return detect(scanned: scan.files, base: Self.excluding(scan.skipped, from: known), report: &report)
    }

    /// Re-examines only `paths` (files or directories, changed) and `directories` (appeared:
    /// scanned whole) — the watcher's incremental path.
    public func detect(paths: Set<String>, directories: Set<String>, report: inout PushReport) throws -> ChangeSet {
        var scanned: [String: ScannedFile] = [:]
        var base: [String: ClientState.FileState] = [:]
        var subtrees: [String] = []
        for path in paths.union(directories) {
            guard PathRules.violation(in: Array(path.utf8)) == nil else { continue }
            var info = stat()
            let full = configuration.root + "/" + path
            if lstat(full, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                subtrees.append(path)
                continue
            }
            for (known, entry) in try state.files(at: path, andBelow: true) { base[known] = entry }
            if lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, !ignore.isIgnored(path, isDirectory: false)
            {
                scanned[path] = ScannedFile(stat: info, path: path)
            }
        }
        for directory in subtrees where !ignore.isIgnored(directory, isDirectory: true) {
            let scan = try TreeScanner(root: configuration.root, ignore: ignore).scan(subdirectory: directory)
            for file in scan.files { scanned[file.path] = file }
            report.skipped += scan.skipped.map { PushReport.SkippedFile(path: $0.path, reason: $0.reason) }
            let known = Self.excluding(scan.skipped, from: try state.files(at: directory, andBelow: true))
            for (path, entry) in known { base[path] = entry }
        }
        report.filesScanned += scanned.count
        return detect(scanned: Array(scanned.values), base: base, report: &report)
    }

    private func detect(scanned: [ScannedFile], base: [String: ClientState.FileState], report: inout PushReport)
        -> ChangeSet
    {
        let info = serverInfo.withLock { $0 } ?? ServerInfo(version: "?", limits: BundleLimits())
        let maxFile = min(info.maxFileBytes, (info.maxBundleSizeMB << 20) - (1 << 20))
        let hashed = Mutex<Int64>(0)
        let changes = ChangeDetector(root: configuration.root, maxFileBytes: maxFile).detect(
            scanned: scanned, base: base
        ) {
            bytes in
            let total = hashed.withLock { value in
                value += bytes
                return value
            }
            self.update { $0.bytesHashed = total }
        }
        report.skipped += changes.skipped.map { PushReport.SkippedFile(path: $0.path, reason: $0.reason) }
        report.filesHashed += changes.changes.count + changes.refreshed.count
        report.created += changes.count(.created)
        report.updated += changes.count(.updated)
        report.deleted += changes.count(.deleted)
        report.moved += changes.count(.moved)
        return changes
    }

    // MARK: - Outbox

    /// Writes `changes` as bundles under the server's limits and records them in the outbox.
    /// Throws a `DeltaError` with `details.changed` when a file changed while being bundled.
    public func enqueue(_ changes: ChangeSet) throws {
        try state.refresh(changes.refreshed)
        guard !changes.isEmpty else { return }
        update { $0.phase = .bundling }
        let info = serverInfo.withLock { $0 } ?? ServerInfo(version: "?", limits: BundleLimits())
        let bundles = BundlePlanner(root: configuration.root, info: info).plan(changes)
        update { $0.bundlesTotal += bundles.count }
        for bundle in bundles {
            let id = UUID().uuidString.lowercased()
            let file = id + ".tar.gz"
            let size: Int64
            do {
                size = try BundleWriter().write(
                    to: state.outboxPath(file), bundleID: id, workspacePath: configuration.root, sequenceNumber: nil,
                    entries: bundle.entries
                )
            } catch {
                unlink(state.outboxPath(file))
                throw error
            }
            try Self.syncDirectory(state.directory + "/outbox")
            try state.enqueue(
                bundleID: id, file: file, size: size, operations: bundle.entries.count, upserts: bundle.upserts,
                deletes: bundle.deletes
            )
            logger.debug(
                "bundle queued", metadata: ["bundle.id": "\(id)", "bundle.operations": "\(bundle.entries.count)"])
        }
        if ProcessInfo.processInfo.environment["DELTASYNC_CLIENT_FAILPOINT"] == "after-outbox" {
            cdeltasys_exit_now(137)
        }
    }

    /// Uploads pending bundles in order. Returns false when the server's sequence disagrees and
    /// the caller must `prepare()` again (which reconciles).
    public func drain(report: inout PushReport) async throws -> Bool {
        var acked = try state.ackedSequence
        let pending = try state.pending()
        report.sequence = acked
        guard !pending.isEmpty else { return true }
        // The uploader runs beside `enqueue`: the failpoint must also stop it from sending what
        // was just recorded, or the "killed after the outbox" state depends on timing.
        if ProcessInfo.processInfo.environment["DELTASYNC_CLIENT_FAILPOINT"] == "after-outbox" {
            cdeltasys_exit_now(137)
        }
        update {
            $0.phase = .uploading
            $0.bundlesTotal = max($0.bundlesTotal, pending.count)
            $0.bytesToSend += pending.reduce(0) { $0 + $1.size }
        }
        for entry in pending {
            switch try await upload(entry, sequence: acked + 1) {
            case .applied(let reply):
                acked = reply.sequenceNumber
                try state.acknowledge(entry, sequence: acked)
                report.bundles += 1
                report.bytesSent += entry.size
                report.sequence = acked
                update { $0.bundlesSent += 1 }
            case .sequenceMismatch(let expected):
                if try await replayRetained(from: expected, upTo: acked) { return false }
                logger.notice(
                    "server sequence differs; reconciling with its manifest",
                    metadata: ["sequence.expected": "\(expected)", "sequence.acked": "\(acked)"]
                )
                try state.setMeta("needs_resync", "1")
                return false
            }
        }
        return true
    }

    private func upload(_ entry: ClientState.OutboxEntry, sequence: Int64) async throws -> DeltaAPI.UploadOutcome {
        let path = state.outboxPath(entry.file)
        do {
            let outcome = try await withRetry {
                try await self.api.upload(bundleAt: path, workspace: self.configuration.workspace, sequence: sequence) {
                    sent in
                    self.update { $0.bytesSent += sent }
                }
            }
            try? state.setMeta("last_error", nil)
            return outcome
        } catch let error as DeltaError {
            try? state.setMeta("last_error", "\(error.code): \(error.message)")
            let status = error.details["http_status"]?.intValue ?? 0
            if [400, 409, 413, 422].contains(status) {
                // The server will never take this bundle; the next run reconciles against its
                // manifest (the workspace on disk is the truth, so nothing is lost).
                try? state.setMeta("needs_resync", "1")
                throw DeltaError(
                    error.code,
                    "the server rejected a bundle: \(error.message). Run again to reconcile with the server's copy.",
                    details: error.details
                )
            }
            throw error
        }
    }

    /// A server restored from an old backup asks for an earlier sequence: send it the acknowledged
    /// bundles it lost, if they are all still kept.
    private func replayRetained(from expected: Int64, upTo acked: Int64) async throws -> Bool {
        guard expected <= acked else { return false }
        let retained = try state.retained().filter { ($0.ackedSequence ?? 0) >= expected }
        guard retained.map({ $0.ackedSequence ?? 0 }) == Array(expected...acked) else { return false }
        logger.notice(
            "replaying bundles the server lost", metadata: ["sequence.from": "\(expected)", "sequence.to": "\(acked)"])
        for entry in retained {
            guard case .applied = try await upload(entry, sequence: entry.ackedSequence ?? 0) else { return false }
        }
        return true
    }

    /// What could not be read (an unreadable directory, a listing that failed) is not gone:
    /// leave its files out of the comparison so they are not deleted on the server.
    static func excluding(_ skipped: [SkippedPath], from base: [String: ClientState.FileState]) -> [String: ClientState
        .FileState]
    {
        // Symlinks and special files are not in the synced set: a file replaced by one is deleted.
        let unreadable = skipped.filter {
            ![SkippedPath.symlinkReason, SkippedPath.specialFileReason].contains($0.reason)
        }
        .map(\.path)
        guard !unreadable.isEmpty else { return base }
        return base.filter { path, _ in
            !unreadable.contains { $0 == path || PathRules.isAncestor($0, of: path) }
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

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw DeltaError.posix("fsync", path) }
    }
}

extension ScannedFile {
    /// A scanned file from an `lstat` result.
    init(stat info: stat, path: String) {
        self.init(
            path: path, size: Int64(info.st_size),
            mtimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            ctimeNanoseconds: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec),
            inode: UInt64(info.st_ino), mode: UInt32(info.st_mode & 0o7777)
        )
    }
}
