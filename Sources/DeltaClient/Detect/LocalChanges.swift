import DeltaCore
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Finds what changed in the workspace against a base tree: scans (all of it, or the paths the
/// watcher named) and hands the result to the pure `ChangeDetector`. The base comes from the
/// caller through `BaseTree`, so detection knows nothing of how it is stored.
struct LocalChanges: Sendable {
    /// What the base tree looks like, by path.
    struct BaseTree: Sendable {
        /// Every tracked file.
        var all: @Sendable () throws -> [String: TrackedFile]
        /// The file at a path and every file below it.
        var below: @Sendable (String) throws -> [String: TrackedFile]
    }

    /// One detection's result.
    struct Detection: Sendable {
        var changes: ChangeSet
        var filesScanned = 0
        var skipped: [SkippedPath] = []
        /// What the full scan saw, when asked for and when it can stand for the tree.
        var snapshot: TreeSnapshot?
        /// Whether `changes` were handed to a ``Streaming`` as they were found.
        var streamed = false
    }

    /// Takes the changes of a scan against an empty base (a first push: every file is created)
    /// a bundle's worth at a time, as they are hashed, so that the first bundles upload while
    /// the rest are read.
    struct Streaming {
        /// Cuts files to create (in path order) into runs of one bundle each, by content size.
        var runs: ([Int64]) -> [Range<Int>]
        /// Takes one run's changes; an error ends the detection.
        var deliver: (ChangeSet) throws -> Void
    }

    let root: String
    let ignore: IgnoreRules
    let base: BaseTree
    let maxFileBytes: Int64

    /// What a ``TreeSnapshot`` of this workspace must agree with besides the tree.
    var snapshotContext: TreeSnapshot.Context {
        TreeSnapshot.Context(
            root: root, stateDirectoryName: ignore.stateDirectoryName, usesDefaultExcludes: ignore.usesDefaultExcludes,
            maxFileBytes: maxFileBytes)
    }

    /// Scans the whole workspace and compares it with the whole base (read while the tree is walked:
    /// the two are independent). With `snapshot`, the result carries a ``TreeSnapshot`` of the scan.
    ///
    /// With `streaming`, and a base with no file in it, the changes go to `streaming` a run at a
    /// time as they are hashed (the result still holds them all, with `streamed` set); with
    /// files in the base, moves and deletions need the whole comparison, and `streaming` is not
    /// used.
    func all(
        snapshot: Bool = false, racyWindow: Duration = TreeSnapshot.racyWindow, onScanned: (Int) -> Void = { _ in },
        onHashed: (@Sendable (Int64) -> Void)? = nil, streaming: Streaming? = nil
    ) throws -> Detection {
        let walkStarted = TreeSnapshot.now()
        ignore.invalidateAll()
        let base = self.base
        let loaded = Mutex<Result<[String: TrackedFile], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = Result { try base.all() }
            loaded.withLock { $0 = result }
            done.signal()
        }
        let scanned: Result<ScanResult, any Error> = Result { try TreeScanner(root: root, ignore: ignore).scan() }
        done.wait()
        let scan = try scanned.get()
        let known = try loaded.withLock { $0 }?.get() ?? [:]
        onScanned(scan.files.count)
        var detection: Detection
        if let streaming, known.isEmpty {
            detection = Detection(changes: ChangeSet(), streamed: true)
            for run in streaming.runs(scan.files.map(\.size)) {
                let part = compare(Array(scan.files[run]), [:], onHashed: onHashed)
                try streaming.deliver(part.changes)
                detection.changes.changes += part.changes.changes
                detection.changes.skipped += part.changes.skipped
                detection.skipped += part.skipped
            }
        } else {
            detection = compare(scan.files, Self.excluding(scan.skipped, from: known), onHashed: onHashed)
        }
        detection.filesScanned = scan.files.count
        if snapshot {
            // A racy file's digest: what this detection hashed, else what the table has.
            let changes = detection.changes
            var hashed: [String: String]?
            detection.snapshot = TreeSnapshot(
                scan: scan, detectionSkipped: detection.skipped, context: snapshotContext, walkStarted: walkStarted,
                racyWindow: racyWindow,
                digest: { path in
                    if hashed == nil {
                        hashed = [:]
                        for state in changes.changes.compactMap(\.state) + changes.refreshed {
                            hashed?[state.path] = state.sha256
                        }
                    }
                    return hashed?[path] ?? known[path]?.sha256
                })
        }
        detection.skipped = scan.skipped + detection.skipped
        return detection
    }

    /// Re-examines only `paths` (files or directories, changed) and `directories` (appeared:
    /// scanned whole) — the watcher's incremental path. Files in `rehash` are hashed even when
    /// their stat is what the base has (a racy file whose content moved within one tick).
    func at(paths: Set<String>, directories: Set<String>, rehash: Set<String> = []) throws -> Detection {
        var scanned: [String: ScannedFile] = [:]
        var known: [String: TrackedFile] = [:]
        var subtrees: [String] = []
        var skipped: [SkippedPath] = []
        for path in paths.union(directories) {
            guard PathRules.violation(in: Array(path.utf8)) == nil else { continue }
            var info = stat()
            let full = root + "/" + path
            if lstat(full, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                subtrees.append(path)
                continue
            }
            for (path, entry) in try base.below(path) {
                var entry = entry
                if rehash.contains(path) { entry.mtimeNanoseconds = -1 }
                known[path] = entry
            }
            if lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, !ignore.isIgnored(path, isDirectory: false)
            {
                scanned[path] = ScannedFile(stat: info, path: path)
            }
        }
        for directory in subtrees where !ignore.isIgnored(directory, isDirectory: true) {
            let scan = try TreeScanner(root: root, ignore: ignore).scan(subdirectory: directory)
            for file in scan.files { scanned[file.path] = file }
            skipped += scan.skipped
            for (path, entry) in Self.excluding(scan.skipped, from: try base.below(directory)) { known[path] = entry }
        }
        var detection = compare(Array(scanned.values), known, onHashed: nil)
        detection.filesScanned = scanned.count
        detection.skipped = skipped + detection.skipped
        return detection
    }

    /// The current state of exactly `paths`, each compared with nothing: a present file comes
    /// back as `created` (hashed now), an absent one in `missing`. A compatible-core recovery
    /// sends these as one idempotent bundle.
    func current(of paths: [String]) -> (changes: ChangeSet, missing: [String]) {
        var scanned: [ScannedFile] = []
        var missing: [String] = []
        for path in paths {
            var info = stat()
            if PathRules.violation(in: Array(path.utf8)) == nil, lstat(root + "/" + path, &info) == 0,
                (info.st_mode & S_IFMT) == S_IFREG, !ignore.isIgnored(path, isDirectory: false)
            {
                scanned.append(ScannedFile(stat: info, path: path))
            } else {
                missing.append(path)
            }
        }
        let changes = ChangeDetector(root: root, maxFileBytes: maxFileBytes).detect(scanned: scanned, base: [:])
        // Vanished while hashing: gone. (Too large now: left as the server has it.)
        let vanished = changes.skipped.filter { $0.reason.hasPrefix("vanished") }.map(\.path)
        return (changes, missing + vanished)
    }

    private func compare(
        _ scanned: [ScannedFile], _ base: [String: TrackedFile], onHashed: (@Sendable (Int64) -> Void)?
    ) -> Detection {
        let changes = ChangeDetector(root: root, maxFileBytes: maxFileBytes).detect(
            scanned: scanned, base: base, hashProgress: onHashed)
        return Detection(
            changes: changes, skipped: changes.skipped.map { SkippedPath(path: $0.path, reason: $0.reason) })
    }

    /// What could not be read (an unreadable directory, a listing that failed) is not gone:
    /// leave its files out of the comparison so they are not deleted on the server.
    static func excluding(_ skipped: [SkippedPath], from base: [String: TrackedFile]) -> [String: TrackedFile] {
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
