import CDeltaSys
import DeltaCore
import Dispatch
import Glibc
import Synchronization

/// Content-addressed blobs on a filesystem: `blobs/<aa>/<sha256>`.
///
/// Blobs arrive as spooled temporary files in the same filesystem and are renamed into place, so
/// storing one costs a rename, not a copy. Durability is one flush per bundle (`flush(_:)`): an
/// `fsync` per new blob for a few, one `syncfs` for many.
///
/// A blob stored for a file takes that file's mode (0644 or 0755) and the materialised copy is
/// a hard link to it: one inode and one write per file. A blob's mode never changes once it is
/// in place, so a copy needing another mode (or a blob stored 0600 by an older server, or a
/// bundle) gets a copy of its own.
public struct BlobStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root, mode: 0o700)
    }

    /// One level of 256 fan-out directories: a second level would cost a new directory inode
    /// for nearly every blob of a large first upload.
    public func path(for sha256: String) -> String {
        "\(root)/\(sha256.prefix(2))/\(sha256)"
    }

    public func contains(_ sha256: String) -> Bool { FileSystem.exists(path(for: sha256)) }

    /// What `adopt` wrote: the blob's path when it is new, and whether its fan-out directory
    /// was made for it. `flush` makes these durable.
    public struct Adopted: Sendable {
        public var blobs: [String] = []
        public var newDirectories = false

        public init() {}
    }

    /// Moves `temporaryPath` into the store under `sha256` with `mode` (dropping it if the blob
    /// exists: the blob in place keeps its mode). Returns whether the blob is new. A `suffix`
    /// names a file kept beside the blob (a bundle's recipe), never a blob itself.
    @discardableResult
    public func adopt(
        _ temporaryPath: String, sha256: String, suffix: String = "", mode: UInt32 = 0o600,
        into adopted: inout Adopted
    ) throws -> Bool {
        let target = path(for: sha256) + suffix
        chmod(temporaryPath, mode_t(mode))
        // One call for the usual cases: the rename refuses to replace a blob in place (`EEXIST`),
        // and the fan-out directory, which nearly always exists, is made only when the rename
        // says it is missing (its first blob, or the store's root went missing).
        var placed = try Self.renameNoReplace(temporaryPath, target)
        if placed == nil {
            guard FileSystem.exists(temporaryPath) else { throw DeltaError.posix("rename", target) }
            try FileSystem.createDirectory(
                String(target[..<(target.lastIndex(of: "/") ?? target.endIndex)]), mode: 0o700)
            adopted.newDirectories = true
            placed = try Self.renameNoReplace(temporaryPath, target)
        }
        guard let placed else { throw DeltaError.posix("rename", target) }
        if placed {
            adopted.blobs.append(target)
        } else {
            unlink(temporaryPath)
        }
        return placed
    }

    /// Renames `source` to `target` unless `target` exists: true when renamed, false when
    /// `target` was there, nil when a directory of `target` is missing (`ENOENT`).
    private static func renameNoReplace(_ source: String, _ target: String) throws -> Bool? {
        if cdeltasys_renameat2(AT_FDCWD, source, AT_FDCWD, target, renameNoReplaceFlag) == 0 { return true }
        switch errno {
        case EEXIST: return false
        case ENOENT: return nil
        case EINVAL, ENOSYS:
            // A filesystem without `RENAME_NOREPLACE`: look, then rename (one writer per
            // workspace, and a blob's bytes are the same whoever puts it there).
            if FileSystem.exists(target) { return false }
            if rename(source, target) == 0 { return true }
            if errno == ENOENT { return nil }
            throw DeltaError.posix("rename", target)
        default:
            throw DeltaError.posix("rename", target)
        }
    }

    /// `RENAME_NOREPLACE` (not visible through `import Glibc`).
    private static let renameNoReplaceFlag: UInt32 = 1

    /// The permission bits of the blob at `path`, nil when it is missing.
    public func mode(ofBlobAt path: String) -> UInt32? {
        let mode = cdeltasys_permissions(path)
        return mode < 0 ? nil : UInt32(mode)
    }

    /// Most new blobs made durable one `fsync` at a time; above it, one `syncfs`.
    static let fsyncLimit = 16

    /// Makes what `adopt` wrote durable. A few blobs are each `fsync`ed with their directories
    /// (a one-file save must not wait for `syncfs`, which also writes out everything else dirty
    /// on the filesystem: tens of milliseconds while a build or another upload writes); many are
    /// flushed with one `syncfs`.
    public func flush(_ adopted: Adopted) throws {
        guard !adopted.blobs.isEmpty else { return }
        guard adopted.blobs.count <= Self.fsyncLimit else {
            let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw DeltaError.posix("open", root) }
            defer { close(fd) }
            guard cdeltasys_syncfs(fd) == 0 else { throw DeltaError.posix("syncfs", root) }
            return
        }
        var directories = Set<String>()
        for blob in adopted.blobs {
            directories.insert(String(blob[..<(blob.lastIndex(of: "/") ?? blob.endIndex)]))
        }
        if adopted.newDirectories { directories.insert(root) }
        // All at once: the disk gets them together rather than one wait after another (a
        // one-file save has its blob, the bundle's blob and their directories to flush).
        let targets = adopted.blobs.map { ($0, O_RDONLY) } + directories.sorted().map { ($0, O_RDONLY | O_DIRECTORY) }
        let failure = Mutex<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: targets.count) { index in
            do {
                try Self.fsync(targets[index].0, flags: targets[index].1)
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Starts `flush(adopted)`. Many blobs (one `syncfs`) are flushed on a thread of its own and
    /// this returns at once: the bundle's commit writes its rows while the disk syncs, and waits
    /// for the flush only before it commits. A few (a save's) are flushed here and now: their
    /// `fsync`s take about as long as the rows, and a hop to another thread cost more than the
    /// overlap saved (save → event p50 about 1 ms higher over 150 saves).
    public func startFlush(_ adopted: Adopted) -> PendingFlush {
        if adopted.blobs.count <= Self.fsyncLimit { return PendingFlush(inline: { try flush(adopted) }) }
        return PendingFlush { try flush(adopted) }
    }

    private static func fsync(_ path: String, flags: Int32) throws {
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", path) }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw DeltaError.posix("fsync", path) }
    }
}

/// A blob flush, done or running on a thread of its own (`BlobStore.startFlush`).
public final class PendingFlush: Sendable {
    private let done = DispatchGroup()
    private let outcome = Mutex<Result<Duration, any Error>?>(nil)

    /// Runs `work` on the calling thread: done when this returns.
    init(inline work: () throws -> Void) {
        let result = Self.timed(work)
        outcome.withLock { $0 = result }
    }

    /// Runs `work` on a Dispatch thread.
    init(_ work: @escaping @Sendable () throws -> Void) {
        done.enter()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let result = Self.timed(work)
            outcome.withLock { $0 = result }
            done.leave()
        }
    }

    private static func timed(_ work: () throws -> Void) -> Result<Duration, any Error> {
        let clock = ContinuousClock()
        let started = clock.now
        return Result { try work() }.map { started.duration(to: clock.now) }
    }

    /// How long the flush took, once it has succeeded.
    public var elapsed: Duration? { try? outcome.withLock({ $0 })?.get() }

    /// Blocks until the flush is done; rethrows its error. Returns how long the flush took.
    /// May be called any number of times.
    @discardableResult
    public func wait() throws -> Duration {
        done.wait()
        guard let result = outcome.withLock({ $0 }) else { preconditionFailure("the flush finished without a result") }
        return try result.get()
    }
}
