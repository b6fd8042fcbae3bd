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
        // Downloads land here and are renamed into place; what a killed pull left is dropped.
        FileSystem.removeTree(temporaryDirectory)
        try FileSystem.createDirectory(temporaryDirectory, mode: 0o700)
    }

    /// In the state directory, so a half-written download is never inside the replica (the
    /// state directory must be on the replica's filesystem for the rename).
    var temporaryDirectory: String { configuration.stateDirectory + "/pull-tmp" }

    var api: DeltaAPI {
        DeltaAPI(baseURL: configuration.serverURL, token: configuration.token, timeout: configuration.requestTimeout)
    }

    var workspace: WorkspaceReference { WorkspaceReference(name: configuration.workspace, path: configuration.root) }

    /// Brings the replica to the server's current sequence and returns.
    public func run() async throws -> PullReport {
        let started = ContinuousClock.now
        var report = PullReport()
        try await catchUp(&report)
        report.durationMilliseconds = Double(started.duration(to: .now).nanoseconds) / 1e6
        return report
    }

    /// Catches up, then applies every change as it is announced until cancelled. Reconnects
    /// (resuming from the cursor) when the stream drops; `onChange` hears each applied sequence.
    public func follow(onChange: @Sendable (PullReport) -> Void = { _ in }) async throws {
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
        var wanted: [String: (sha256: String, mode: UInt32)] = [:]
        for file in manifest.files where file.contentHash.algorithm == .sha256 {
            wanted[file.path] = (file.contentHash.hex, file.mode)
        }
        let known = try state.files()
        for (path, file) in wanted.sorted(by: { $0.key < $1.key }) {
            try await write(path, sha256: file.sha256, mode: file.mode, sequence: manifest.sequence, report: &report)
        }
        for path in known.keys.sorted() where wanted[path] == nil {
            try remove(path, sequence: manifest.sequence, report: &report)
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
        for path in order {
            guard case .some(.some(let file)) = final[path] else { continue }
            do {
                try await write(path, sha256: file.sha256, mode: file.mode, sequence: last, report: &report)
            } catch let error as DeltaError where error.httpStatus == 404 {
                // Superseded content: a later change replaced it; the manifest has the truth.
                logger.notice(
                    "content gone from the server; starting again from the manifest", metadata: ["path": "\(path)"])
                try await bootstrap(&report)
                return
            }
        }
        try state.setAckedSequence(last)
        report.sequence = last
    }

    // MARK: - Files

    /// Writes `path` with the blob `sha256` unless it already holds it; a local edit is kept
    /// aside first.
    private func write(_ path: String, sha256: String, mode: UInt32, sequence: Int64, report: inout PullReport)
        async throws
    {
        guard PathRules.violation(in: Array(path.utf8)) == nil else {
            logger.warning("skipped a path this system cannot hold", metadata: ["path": "\(path)"])
            return
        }
        let full = configuration.root + "/" + path
        let executable = mode & 0o111 != 0
        let current = try localState(path)
        if let current, current.sha256 == sha256 {
            if (current.mode & 0o111 != 0) != executable { chmod(full, executable ? 0o755 : 0o644) }
            try record(path, sha256: sha256)
            return
        }
        try keepAsideIfEdited(path, sequence: sequence, report: &report, digest: current?.sha256)
        try createParents(of: path)
        let temporary = temporaryDirectory + "/" + UUID().uuidString
        do {
            let size = try await api.download(sha256: sha256, workspace: workspace, to: temporary)
            chmod(temporary, executable ? 0o755 : 0o644)
            // In flight: killed between the rename and `record`, the next run must take what is
            // there as ours (old or new content), not as a local edit.
            try state.refresh([
                TrackedFile(
                    path: path, size: size, mtimeNanoseconds: Self.inFlight, ctimeNanoseconds: Self.inFlight,
                    inode: 0, mode: executable ? 0o755 : 0o644, sha256: sha256)
            ])
            var info = stat()
            if lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { FileSystem.removeTree(full) }
            guard rename(temporary, full) == 0 else { throw DeltaError.posix("rename", full) }
            report.filesWritten += 1
            report.bytes += size
        } catch {
            unlink(temporary)
            throw error
        }
        try record(path, sha256: sha256)
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
        let aside = "\(path).deltasync-conflict-\(sequence)"
        guard rename(full, configuration.root + "/" + aside) == 0 else { throw DeltaError.posix("rename", full) }
        report.conflicts.append(aside)
        try state.recordConflict(
            PullConflict(
                path: path, keptAs: aside, sequence: sequence, detectedAt: ISO8601DateFormatter().string(from: Date())))
        logger.warning(
            "a local edit was kept aside instead of being overwritten",
            metadata: ["path": "\(path)", "kept_as": "\(aside)"])
    }

    /// The local file's current state when it is what pull wrote (or hashes the same).
    private func localState(_ path: String) throws -> TrackedFile? {
        let full = configuration.root + "/" + path
        var info = stat()
        guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let scanned = ScannedFile(stat: info, path: path)
        if let written = try state.files(at: path, andBelow: false)[path], ChangeDetector.sameStat(written, scanned) {
            return written
        }
        guard let digest = ContentHasher.hash([full]).first ?? nil else { return nil }
        return ChangeDetector.state(scanned, sha256: digest)
    }

    private func record(_ path: String, sha256: String) throws {
        var info = stat()
        guard lstat(configuration.root + "/" + path, &info) == 0 else { return }
        try state.refresh([ChangeDetector.state(ScannedFile(stat: info, path: path), sha256: sha256)])
    }

    private func createParents(of path: String) throws {
        var directory = configuration.root
        for component in PathRules.parents(of: path).last.map({ $0.split(separator: "/").map(String.init) }) ?? [] {
            directory += "/" + component
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
