import CDeltaSys
import DeltaCore
import Foundation
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What `deltasync pull` needs to know.
public struct PullConfiguration: Sendable {
    public var root: String
    public var serverURL: String
    public var workspace: String
    public var token: String?
    public var stateDirectory: String
    public var retry: RetryPolicy
    public var requestTimeout: Duration
    /// Tests only: called with a batch's paths after they are marked in flight, just before
    /// they are renamed into place (a local file can be created there to race the rename).
    var beforeRenaming: (@Sendable ([String]) -> Void)?

    public init(
        root: String, serverURL: String, workspace: String, token: String? = nil, stateDirectory: String? = nil,
        retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(120)
    ) {
        self.root = root
        self.serverURL = serverURL
        self.workspace = workspace
        self.token = token
        self.stateDirectory = stateDirectory ?? root + "/" + PushConfiguration.defaultStateDirectoryName
        self.retry = retry
        self.requestTimeout = requestTimeout
    }
}

/// What a pull did.
public struct PullReport: Sendable, Codable {
    public var sequence: Int64 = 0
    public var filesWritten = 0
    public var filesDeleted = 0
    public var bytes: Int64 = 0
    /// Local edits kept aside as `NAME.deltasync-conflict-<sequence>` instead of being overwritten.
    public var conflicts: [String] = []
    /// Whether the mirror started again from the manifest (first pull, or its cursor was compacted).
    public var rebootstrapped = false
    public var durationMilliseconds: Double = 0

    enum CodingKeys: String, CodingKey {
        case sequence, bytes, conflicts, rebootstrapped
        case filesWritten = "files_written"
        case filesDeleted = "files_deleted"
        case durationMilliseconds = "duration_ms"
    }
}

/// `deltasync pull`: keeps a local replica of a workspace. Bootstraps from the manifest and
/// blobs, then follows the change feed (once) or the live stream (`follow`). The cursor and
/// what was written (a stat fingerprint per file) live in the state directory, so it resumes
/// after restarts and dropped connections, and starts again from the manifest on `410`.
///
/// A local file that differs from what pull last wrote is never silently overwritten, deleted
/// or moved: it is renamed to `NAME.deltasync-conflict-<sequence>` first and reported.
public final class PullSession: Sendable {
    public let configuration: PullConfiguration
    let logger: Logger
    let state: ClientState
    private let lock: SessionLock

    public init(configuration: PullConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        try FileSystem.createDirectory(configuration.root)
        try FileSystem.createDirectory(configuration.stateDirectory)
        lock = try SessionLock(directory: configuration.stateDirectory)
        state = try ClientState(directory: configuration.stateDirectory)
        // Copies of content several paths share are made here; what a killed pull left is dropped,
        // and so are the downloads it left beside their targets.
        FileSystem.removeTree(temporaryDirectory)
        try FileSystem.createDirectory(temporaryDirectory, mode: 0o700)
        sweepStaging()
    }

    /// In the state directory (which must be on the replica's filesystem for the rename).
    var temporaryDirectory: String { configuration.stateDirectory + "/pull-tmp" }

    /// Downloads are written beside their targets as `.deltasync-tmp-<uuid>` and renamed over
    /// them in the same directory, as rsync does: the new inode is allocated near its directory's
    /// (one staging directory made ext4 search a single block group for every new inode). The
    /// directories a fetch may stage into are listed here first, so the next run removes what a
    /// killed pull left.
    var stagingList: String { configuration.stateDirectory + "/pull-staging" }

    static let stagingPrefix = ".deltasync-tmp-"

    /// Removes the staged downloads a killed or failed fetch left in the listed directories.
    private func sweepStaging() {
        guard let list = try? String(contentsOfFile: stagingList, encoding: .utf8) else { return }
        for directory in list.split(separator: "\n", omittingEmptySubsequences: false) {
            let full = configuration.root + (directory.isEmpty ? "" : "/" + directory)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: full)) ?? []
            where name.hasPrefix(Self.stagingPrefix) {
                unlink(full + "/" + name)
            }
        }
        unlink(stagingList)
    }

    var api: DeltaAPI {
        DeltaAPI(baseURL: configuration.serverURL, token: configuration.token, timeout: configuration.requestTimeout)
    }

    var workspace: WorkspaceReference { WorkspaceReference(name: configuration.workspace, path: configuration.root) }

    /// Brings the replica to the server's current sequence and returns. A session runs once
    /// (`run` or `follow`): its state-directory lock is released when it returns.
    public func run() async throws -> PullReport {
        // The session ends here: the next one may start at once, whoever still holds this object.
        defer { lock.release() }
        let started = ContinuousClock.now
        var report = PullReport()
        try await catchUp(&report)
        report.durationMilliseconds = Double(started.duration(to: .now).nanoseconds) / 1e6
        return report
    }

    /// Catches up, then applies every change as it is announced until cancelled. Reconnects
    /// (resuming from the cursor) when the stream drops; `onChange` hears each applied sequence.
    public func follow(onChange: @Sendable (PullReport) -> Void = { _ in }) async throws {
        defer { lock.release() }
        var report = PullReport()
        try await catchUp(&report)
        onChange(report)
        var failures = 0
        while !Task.isCancelled {
            do {
                let events = try await api.stream(workspace, after: try state.ackedSequence)
                failures = 0
                for try await event in events where event.event == "change" {
                    let entry = try JSONDecoder().decode(ChangeEntry.self, from: Data(event.data.utf8))
                    let cursor = try state.ackedSequence
                    guard entry.sequence > cursor else { continue }
                    guard entry.sequence == cursor + 1 else {
                        try await catchUp(&report)  // a gap: read the feed
                        continue
                    }
                    try await apply([entry], report: &report)
                    onChange(report)
                }
            } catch let error as DeltaError where error.code == .historyCompacted {
                try await catchUp(&report)
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                failures += 1
                let wait = configuration.retry.delay(attempt: failures, retryAfter: (error as? DeltaError)?.retryAfter)
                logger.warning("stream dropped; resuming", metadata: ["error": "\(error)", "wait": "\(wait)"])
                try? await Task.sleep(for: wait)
            }
        }
    }

    // MARK: - Catching up

    private func catchUp(_ report: inout PullReport) async throws {
        if try state.syncState().workspaceKey == nil {
            try await bootstrap(&report)
        }
        while true {
            let cursor = try state.ackedSequence
            let page: ChangesResponse
            do {
                page = try await configuration.retry.run { try await self.api.changes(self.workspace, since: cursor) }
            } catch let error as DeltaError where error.code == .historyCompacted {
                logger.notice("the change log no longer reaches our cursor; starting again from the manifest")
                try await bootstrap(&report)
                continue
            }
            if !page.changes.isEmpty { try await apply(page.changes, report: &report) }
            report.sequence = try state.ackedSequence
            if !page.hasMore { return }
        }
    }

    /// Makes the replica equal to the manifest: fetches what differs, deletes what the server
    /// no longer has (local edits kept aside), and sets the cursor to the manifest's sequence.
    private func bootstrap(_ report: inout PullReport) async throws {
        report.rebootstrapped = true
        let manifest = try await configuration.retry.run { try await self.api.manifest(self.workspace) }
        var wanted = manifest.files.compactMap { file in
            file.contentHash.algorithm == .sha256
                ? WantedFile(path: file.path, sha256: file.contentHash.hex, mode: file.mode, size: file.sizeBytes) : nil
        }
        // The server lists files in path order; sorting is only for one that does not.
        if !zip(wanted, wanted.dropFirst()).allSatisfy({ $0.path < $1.path }) { wanted.sort { $0.path < $1.path } }
        let known = try state.files()
        if !known.isEmpty {
            let listed = Set(wanted.lazy.map(\.path))
            for path in known.keys.sorted() where !listed.contains(path) {
                try remove(path, sequence: manifest.sequence, report: &report)
            }
        }
        do {
            try await place(wanted, sequence: manifest.sequence, report: &report)
        } catch is ContentGone {
            // The manifest was overtaken while we fetched: read it again.
            logger.notice("the workspace changed during the bootstrap; reading the manifest again")
            try await bootstrap(&report)
            return
        }
        try state.updateSyncState {
            $0.workspaceKey = manifest.workspace
            $0.serverURL = configuration.serverURL
            $0.serverKind = .deltasync
            $0.ackedSequence = manifest.sequence
        }
        report.sequence = manifest.sequence
    }

    /// Applies log entries in order, coalesced per path so only final content is fetched.
    private func apply(_ entries: [ChangeEntry], report: inout PullReport) async throws {
        guard let last = entries.last?.sequence else { return }
        var final: [String: (sha256: String, mode: UInt32)?] = [:]
        var order: [String] = []
        func set(_ path: String, _ value: (sha256: String, mode: UInt32)?) {
            if final.index(forKey: path) == nil { order.append(path) }
            final[path] = .some(value)
        }
        for entry in entries {
            for operation in entry.operations {
                switch operation.operation {
                case .created, .updated, .moved:
                    if let source = operation.sourcePath, operation.operation == .moved, source != operation.path {
                        set(source, nil)
                    }
                    guard let hash = operation.contentHash, hash.algorithm == .sha256 else { continue }
                    set(operation.path, (hash.hex, operation.mode ?? 0o644))
                case .deleted:
                    set(operation.path, nil)
                }
            }
        }
        // Deletes first: a directory may become a file.
        for path in order {
            if case .some(.none) = final[path] { try remove(path, sequence: last, report: &report) }
        }
        let writes = order.compactMap { path -> WantedFile? in
            guard case .some(.some(let file)) = final[path] else { return nil }
            return WantedFile(path: path, sha256: file.sha256, mode: file.mode, size: nil)
        }
        do {
            try await place(writes, sequence: last, report: &report)
        } catch is ContentGone {
            // Superseded content: a later change replaced it; the manifest has the truth.
            logger.notice("content gone from the server; starting again from the manifest")
            try await bootstrap(&report)
            return
        }
        try state.setAckedSequence(last)
        report.sequence = last
    }

    // MARK: - Files

    /// A file as the server has it.
    struct WantedFile: Sendable {
        var path: String
        var sha256: String
        var mode: UInt32
        /// From the manifest; unknown (nil) for feed entries without `size_bytes`.
        var size: Int64?
    }

    /// The server no longer holds a blob we asked for (a later change superseded it).
    struct ContentGone: Error {}

    /// Blobs per `POST /blobs` request, bytes per request, and requests in flight.
    static let batchHashes = 2_000
    static let batchBytes: Int64 = 64 << 20
    static let batchesInFlight = 4

    /// Makes each of `files` hold its content: files that already do are only recorded (and
    /// their exec bit fixed); the rest are fetched in batches (`POST /blobs`, several in
    /// flight) into the state directory and renamed into place, a local edit kept aside first.
    /// Throws `ContentGone` when the server no longer holds a blob.
    private func place(_ files: [WantedFile], sequence: Int64, report: inout PullReport) async throws {
        let known = try state.files()
        var targets: [String: [WantedFile]] = [:]
        var batches: [[String]] = [[]]
        var batchBytes: Int64 = 0
        var unchanged: [TrackedFile] = []
        var directories = Set<String>()
        // Paths with nothing at them now: renamed into place without replacing (a file that
        // appears there meanwhile takes the careful path), so they need no look before the rename.
        var absent = Set<String>()
        for file in files {
            guard PathRules.violation(in: Array(file.path.utf8)) == nil else {
                logger.warning("skipped a path this system cannot hold", metadata: ["path": "\(file.path)"])
                continue
            }
            var isAbsent = false
            let local = try localState(file.path, known: known, absent: &isAbsent)
            if isAbsent && known[file.path] == nil { absent.insert(file.path) }
            if let current = local, current.sha256 == file.sha256 {
                let full = configuration.root + "/" + file.path
                if (current.mode & 0o111 != 0) != (file.mode & 0o111 != 0) {
                    chmod(full, Self.fileMode(file.mode))
                }
                if let tracked = Self.tracked(full, path: file.path, sha256: file.sha256) { unchanged.append(tracked) }
                continue
            }
            if targets[file.sha256] == nil {
                let size = file.size ?? 0
                if batches[batches.count - 1].count >= Self.batchHashes
                    || (batchBytes + size > Self.batchBytes && !batches[batches.count - 1].isEmpty)
                {
                    batches.append([])
                    batchBytes = 0
                }
                batches[batches.count - 1].append(file.sha256)
                batchBytes += size
            }
            targets[file.sha256, default: []].append(file)
        }
        try state.refresh(unchanged)
        // Each blob is staged in the directory of the last path that takes it (its rename
        // target), with that path's mode.
        var staging: [String: (directory: String, mode: UInt32)] = [:]
        for (hex, files) in targets {
            for file in files { try createParents(of: file.path, known: &directories) }
            if let last = files.last {
                let directory = last.path.lastIndex(of: "/").map { String(last.path[..<$0]) } ?? ""
                staging[hex] = (directory, Self.fileMode(last.mode))
            }
        }
        guard !staging.isEmpty else { return }
        try FileSystem.writeAtomically(
            stagingList, Array(Set(staging.values.map(\.directory)).sorted().joined(separator: "\n").utf8))
        let root = configuration.root
        let stagingDirectories = staging
        let api = self.api
        let workspace = self.workspace
        var placed = Set<String>()
        do {
            try await withThrowingTaskGroup(of: [String: (path: String, size: Int64)].self) { group in
                var pending = batches.filter { !$0.isEmpty }.makeIterator()
                func fetch(_ batch: [String]) {
                    group.addTask {
                        try await api.downloadBlobs(batch, workspace: workspace) { hex in
                            let (directory, mode) = stagingDirectories[hex] ?? ("", 0o644)
                            let path =
                                root + (directory.isEmpty ? "" : "/" + directory) + "/" + Self.stagingPrefix
                                + UUID().uuidString
                            return (path, mode)
                        }
                    }
                }
                for _ in 0..<Self.batchesInFlight {
                    guard let batch = pending.next() else { break }
                    fetch(batch)
                }
                while let fetched = try await group.next() {
                    placed.formUnion(fetched.keys)
                    try placeBatch(
                        fetched, targets: targets, absent: absent, directories: &directories, sequence: sequence,
                        report: &report)
                    if let batch = pending.next() { fetch(batch) }
                }
            }
        } catch {
            // Batches fetched but not yet placed when another failed are still staged.
            sweepStaging()
            throw error
        }
        unlink(stagingList)
        if targets.keys.contains(where: { !placed.contains($0) }) { throw ContentGone() }
    }

    /// Renames one batch of downloaded blobs into place: local edits kept aside and parents
    /// created first, then every path marked in flight (one transaction), renamed (a copy for
    /// each further path with the same content), and recorded (one transaction). Paths in
    /// `absent` had nothing at them when planned: they are renamed without replacing.
    private func placeBatch(
        _ received: [String: (path: String, size: Int64)], targets: [String: [WantedFile]], absent: Set<String>,
        directories: inout Set<String>, sequence: Int64, report: inout PullReport
    ) throws {
        var moves: [(from: String, file: WantedFile, size: Int64)] = []
        do {
            for (hex, blob) in received.sorted(by: { $0.key < $1.key }) {
                let files = targets[hex] ?? []
                for (index, file) in files.enumerated() {
                    let source: String
                    if index == files.count - 1 {
                        source = blob.path  // staged with this path's mode
                    } else {
                        source = temporaryDirectory + "/" + UUID().uuidString
                        try FileSystem.copyFile(blob.path, to: source)
                        chmod(source, Self.fileMode(file.mode))
                    }
                    moves.append((source, file, blob.size))
                }
                if files.isEmpty { unlink(blob.path) }
            }
            for move in moves {
                if !absent.contains(move.file.path) {
                    try keepAsideIfEdited(move.file.path, sequence: sequence, report: &report)
                }
                try createParents(of: move.file.path, known: &directories)
            }
            // In flight: killed between a rename and the record below, the next run must take
            // what is there as ours (old or new content), not as a local edit.
            try state.refresh(
                moves.map { move in
                    TrackedFile(
                        path: move.file.path, size: move.size, mtimeNanoseconds: Self.inFlight,
                        ctimeNanoseconds: Self.inFlight, inode: 0, mode: Self.fileMode(move.file.mode),
                        sha256: move.file.sha256)
                })
        } catch {
            for move in moves { unlink(move.from) }
            for blob in received.values { unlink(blob.path) }
            throw error
        }
        configuration.beforeRenaming?(moves.map(\.file.path))
        var written: [TrackedFile] = []
        for (index, move) in moves.enumerated() {
            let full = configuration.root + "/" + move.file.path
            do {
                try renameIntoPlace(
                    move.from, full, path: move.file.path, wasAbsent: absent.contains(move.file.path),
                    sequence: sequence, report: &report)
            } catch {
                for rest in moves[index...] { unlink(rest.from) }
                try state.refresh(written)
                throw error
            }
            report.filesWritten += 1
            report.bytes += move.size
            if let tracked = Self.tracked(full, path: move.file.path, sha256: move.file.sha256) {
                written.append(tracked)
            }
        }
        try state.refresh(written)
    }

    /// Renames a download over `full`. A path that was absent when planned is taken without
    /// replacing anything (`RENAME_NOREPLACE`); only when something appeared there since (or the
    /// filesystem cannot do that) is it looked at: a local edit kept aside, a directory removed.
    private func renameIntoPlace(
        _ from: String, _ full: String, path: String, wasAbsent: Bool, sequence: Int64, report: inout PullReport
    ) throws {
        if wasAbsent {
            if cdeltasys_renameat2(AT_FDCWD, from, AT_FDCWD, full, Self.renameNoReplace) == 0 { return }
            let failure = errno
            guard failure == EEXIST || failure == EINVAL || failure == ENOSYS else {
                throw DeltaError.posix("rename", full)
            }
            if failure == EEXIST {
                // Created locally since it was planned (its row is marked in flight by now, so
                // the usual check would take it for ours): a regular file there is kept aside.
                var info = stat()
                if lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                    try keepAside(path, sequence: sequence, report: &report)
                }
            }
        }
        var info = stat()
        if lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { FileSystem.removeTree(full) }
        guard rename(from, full) == 0 else { throw DeltaError.posix("rename", full) }
    }

    /// The mode a mirrored file gets: 0755 when the server's has an exec bit, else 0644.
    static func fileMode(_ mode: UInt32) -> UInt32 { mode & 0o111 != 0 ? 0o755 : 0o644 }

    /// renameat2(2)'s `RENAME_NOREPLACE`.
    static let renameNoReplace: UInt32 = 1

    /// The file-table row for what is at `full` now, with its known content hash.
    static func tracked(_ full: String, path: String, sha256: String) -> TrackedFile? {
        var info = stat()
        guard lstat(full, &info) == 0 else { return nil }
        return ChangeDetector.state(ScannedFile(stat: info, path: path), sha256: sha256)
    }
    private func remove(_ path: String, sequence: Int64, report: inout PullReport) throws {
        let full = configuration.root + "/" + path
        var info = stat()
        guard lstat(full, &info) == 0 else {
            try state.forget([path])
            return
        }
        try keepAsideIfEdited(path, sequence: sequence, report: &report)
        if lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            unlink(full)
            report.filesDeleted += 1
        }
        try state.forget([path])
    }

    /// The stat marker of a file-table row written just before a rename.
    static let inFlight: Int64 = -2

    /// A regular file at `path` that is not what pull last wrote is renamed aside.
    /// `digest`, when the caller already hashed the file, saves reading it again.
    private func keepAsideIfEdited(
        _ path: String, sequence: Int64, report: inout PullReport, digest known: String? = nil
    ) throws {
        let full = configuration.root + "/" + path
        var info = stat()
        guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let scanned = ScannedFile(stat: info, path: path)
        if let written = try state.files(at: path, andBelow: false)[path] {
            if written.mtimeNanoseconds == Self.inFlight || ChangeDetector.sameStat(written, scanned) { return }
            if let digest = known ?? (ContentHasher.hash([full]).first ?? nil), digest == written.sha256 { return }
        }
        try keepAside(path, sequence: sequence, report: &report)
    }

    /// Renames the file at `path` to `NAME.deltasync-conflict-<sequence>` and reports it.
    private func keepAside(_ path: String, sequence: Int64, report: inout PullReport) throws {
        let full = configuration.root + "/" + path
        let aside = "\(path).deltasync-conflict-\(sequence)"
        guard rename(full, configuration.root + "/" + aside) == 0 else { throw DeltaError.posix("rename", full) }
        report.conflicts.append(aside)
        try state.recordConflict(
            PullConflict(
                path: path, keptAs: aside, sequence: sequence, detectedAt: RFC3339.string()))
        logger.warning(
            "a local edit was kept aside instead of being overwritten",
            metadata: ["path": "\(path)", "kept_as": "\(aside)"])
    }

    /// The local file's current state: its recorded row when the stat matches what pull wrote,
    /// otherwise what hashing it gives; nil when there is no regular file (`absent` says whether
    /// there is nothing at all).
    private func localState(_ path: String, known: [String: TrackedFile], absent: inout Bool) throws -> TrackedFile? {
        let full = configuration.root + "/" + path
        var info = stat()
        guard lstat(full, &info) == 0 else {
            absent = errno == ENOENT
            return nil
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let scanned = ScannedFile(stat: info, path: path)
        if let written = known[path], ChangeDetector.sameStat(written, scanned) { return written }
        guard let digest = ContentHasher.hash([full]).first ?? nil else { return nil }
        return ChangeDetector.state(scanned, sha256: digest)
    }

    /// Creates the directories above `path`; `known` remembers those already checked (most
    /// paths share their directory with the one before, so that is one lookup).
    private func createParents(of path: String, known: inout Set<String>) throws {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return }
        let parent = configuration.root + "/" + path[..<slash]
        if known.contains(parent) { return }
        var directory = configuration.root
        for component in PathRules.components(of: String(path[..<slash])) {
            directory += "/" + component
            if known.contains(directory) { continue }
            known.insert(directory)
            var info = stat()
            if lstat(directory, &info) == 0 {
                if (info.st_mode & S_IFMT) == S_IFDIR { continue }
                // A file where a directory must go: keep it aside if it was edited, then replace it.
                let relative = String(directory.dropFirst(configuration.root.count + 1))
                var ignored = PullReport()
                try keepAsideIfEdited(relative, sequence: try state.ackedSequence, report: &ignored)
                unlink(directory)
            }
            try FileSystem.createDirectory(directory)
        }
    }
}
