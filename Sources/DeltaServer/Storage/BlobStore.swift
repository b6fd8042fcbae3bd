import CDeltaSys
public import DeltaCore
import Dispatch
import Glibc
import Synchronization

/// Content-addressed blobs on a filesystem: `blobs/<aa>/<sha256>`.
///
/// Blobs arrive as spooled temporary files in the same filesystem and are linked (an anonymous
/// spool file) or renamed (a named one) into place, so storing one costs a link, not a copy. Durability is one flush per bundle (`flush(_:)`): an
/// `fsync` per new blob for a few, one `syncfs` for many.
///
/// Two uploads may bring the same content at once (two workspaces, or one whose upload stores
/// its blobs while the one before it commits). The second finds the blob in place before the
/// first has flushed it, and must not commit before it is durable: `adopt` records it as
/// borrowed, and the second's flush makes it durable too. Blobs a crashed server left only in the
/// page cache are made durable at start-up (`makeDurable()`), before any upload can find them.
///
/// A blob stored for a file takes that file's mode (0644 or 0755) and the materialised copy is
/// a hard link to it: one inode and one write per file. A blob's mode never changes once it is
/// in place, so a copy needing another mode (or a blob stored 0600 by an older server, or a
/// bundle) gets a copy of its own.
public struct BlobStore: Sendable {
    public let root: String
    /// Blobs being placed or placed and not yet flushed, shared by every copy of this store.
    let unflushed = Unflushed()

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root, mode: 0o700)
    }

    /// One level of 256 fan-out directories: a second level would cost a new directory inode
    /// for nearly every blob of a large first upload.
    public func path(for sha256: String) -> String {
        "\(root)/\(relativePath(for: sha256))"
    }

    /// The store's root, open for a batch of `adopt`s (closed when dropped); its descriptor is
    /// -1 when the root could not be opened, and paths are then used whole.
    public final class RootDirectory {
        public let fd: Int32

        public init(_ store: BlobStore) { fd = open(store.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }

        deinit { if fd >= 0 { close(fd) } }
    }

    /// `path(for:)` relative to `root`.
    public func relativePath(for sha256: String) -> String {
        "\(sha256.prefix(2))/\(sha256)"
    }

    /// `linkat` of the blob `sha256` to `name` in the directory open on `directory`: by its path
    /// below `root` when that is open, else by its whole path. 0, or -1 with `errno`.
    func link(_ sha256: String, root: RootDirectory, to directory: Int32, name: String) -> Int32 {
        root.fd >= 0
            ? linkat(root.fd, relativePath(for: sha256), directory, name, 0)
            : linkat(AT_FDCWD, path(for: sha256), directory, name, 0)
    }

    public func contains(_ sha256: String) -> Bool { FileSystem.exists(path(for: sha256)) }

    /// What `adopt` wrote: the blob's path when it is new, and whether its fan-out directory
    /// was made for it; and the blobs found in place that another upload placed and has not
    /// flushed yet (`borrowed`). `flush` makes all of these durable.
    public struct Adopted: Sendable {
        public var blobs: [String] = []
        public var newDirectories = false
        public var borrowed: [String] = []

        public init() {}

        /// What a flush must make durable.
        var count: Int { blobs.count + borrowed.count }
    }

    /// Moves `temporaryPath` into the store under `sha256` with `mode` (dropping it if the blob
    /// exists: the blob in place keeps its mode). Returns whether the blob is new. A `suffix`
    /// names a file kept beside the blob (a bundle's recipe), never a blob itself. `spoolMode`
    /// is the mode the file already has, when known: no `chmod` when it is `mode`. With
    /// `anonymous`, `temporaryPath` is its path, and the file is linked into place instead.
    @discardableResult
    public func adopt(
        _ temporaryPath: String, anonymous: AnonymousSpool? = nil, sha256: String, suffix: String = "",
        mode: UInt32 = 0o600, spoolMode: UInt32? = nil, root: RootDirectory? = nil, into adopted: inout Adopted
    ) throws -> Bool {
        let target = path(for: sha256) + suffix
        if spoolMode != mode {
            if let anonymous { fchmod(anonymous.file.fd, mode_t(mode)) } else { chmod(temporaryPath, mode_t(mode)) }
        }
        // Claimed before the rename: an upload that finds the blob in place from this moment on
        // sees it is not yet flushed.
        unflushed.claim(target)
        // One call for the usual cases: the link or rename refuses to replace a blob in place
        // (`EEXIST`), and the fan-out directory, which nearly always exists, is made only when
        // the call says it is missing (its first blob, or the store's root went missing).
        // An anonymous file is linked below the store's root when it is open (`root`): a
        // component walked instead of all of WORK_DIR's. The retry after making a directory
        // goes by the whole path (a root deleted since it was opened takes no links).
        func place(relative: Bool) throws -> Bool? {
            if let anonymous {
                if relative, let root, root.fd >= 0 {
                    return try anonymous.link(as: relativePath(for: sha256) + suffix, in: root.fd)
                }
                return try anonymous.link(as: target)
            }
            return try Self.renameNoReplace(temporaryPath, target)
        }
        var placed = try place(relative: true)
        if placed == nil {
            guard anonymous != nil || FileSystem.exists(temporaryPath) else {
                throw DeltaError.posix("rename", target)
            }
            try FileSystem.createDirectory(
                String(target[..<(target.lastIndex(of: "/") ?? target.endIndex)]), mode: 0o700)
            adopted.newDirectories = true
            placed = try place(relative: false)
        }
        guard let placed else {
            unflushed.release(target)
            throw DeltaError.posix(anonymous == nil ? "rename" : "link", target)
        }
        if placed {
            // Released by the flush that makes it durable.
            adopted.blobs.append(target)
        } else {
            if anonymous == nil { unlink(temporaryPath) }
            if unflushed.release(target) { adopted.borrowed.append(target) }
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
        guard adopted.count > 0 else { return }
        guard adopted.count <= Self.fsyncLimit else {
            try syncFilesystem()
            unflushed.release(adopted.blobs)
            return
        }
        var directories = Set<String>()
        for blob in adopted.blobs + adopted.borrowed {
            directories.insert(String(blob[..<(blob.lastIndex(of: "/") ?? blob.endIndex)]))
        }
        // A borrowed blob's fan-out directory may be as new as the blob.
        if adopted.newDirectories || !adopted.borrowed.isEmpty { directories.insert(root) }
        // All at once: the disk gets them together rather than one wait after another (a
        // one-file save has its blob, the bundle's blob and their directories to flush).
        let targets =
            (adopted.blobs + adopted.borrowed).map { ($0, O_RDONLY) }
            + directories.sorted().map { ($0, O_RDONLY | O_DIRECTORY) }
        let failure = Mutex<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: targets.count) { index in
            do {
                try Self.fsync(targets[index].0, flags: targets[index].1)
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        unflushed.release(adopted.blobs)
    }

    /// One `syncfs` of the store's filesystem.
    private func syncFilesystem() throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", root) }
        defer { close(fd) }
        guard cdeltasys_syncfs(fd) == 0 else { throw DeltaError.posix("syncfs", root) }
    }

    /// Makes everything already in the store durable (start-up: a server that crashed may have
    /// left blobs in the page cache only, which an upload would find in place and not flush).
    /// Nothing to do, and no `syncfs`, for an empty store.
    public func makeDurable() throws {
        guard let directory = opendir(root) else { throw DeltaError.posix("opendir", root) }
        var empty = true
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] {
                empty = false
                break
            }
        }
        closedir(directory)
        if !empty { try syncFilesystem() }
    }

    /// Starts `flush(adopted)`. Many blobs (one `syncfs`) are flushed on a thread of its own and
    /// this returns at once: the bundle's commit writes its rows while the disk syncs, and waits
    /// for the flush only before it commits. A few (a save's) are flushed here and now: their
    /// `fsync`s take about as long as the rows, and a hop to another thread cost more than the
    /// overlap saved (save → event p50 about 1 ms higher over 150 saves).
    public func startFlush(_ adopted: Adopted) -> PendingFlush {
        if adopted.count <= Self.fsyncLimit { return PendingFlush(inline: { try flush(adopted) }) }
        return PendingFlush { try flush(adopted) }
    }

    private static func fsync(_ path: String, flags: Int32) throws {
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", path) }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw DeltaError.posix("fsync", path) }
    }
}

/// How many `adopt`s have claimed each blob path and not yet released it: a placed blob stays
/// claimed until a flush has made it durable (forever if its flush failed, so that whoever finds
/// it in place flushes it).
final class Unflushed: Sendable {
    private let claims = Mutex<[String: Int]>([:])

    func claim(_ path: String) {
        claims.withLock { $0[path, default: 0] += 1 }
    }

    /// Releases one claim; returns whether the path is still claimed by another.
    @discardableResult
    func release(_ path: String) -> Bool {
        claims.withLock { Self.release(path, in: &$0) }
    }

    func release(_ paths: [String]) {
        guard !paths.isEmpty else { return }
        claims.withLock { claims in
            for path in paths { _ = Self.release(path, in: &claims) }
        }
    }

    private static func release(_ path: String, in claims: inout [String: Int]) -> Bool {
        guard let count = claims[path] else { return false }
        claims[path] = count > 1 ? count - 1 : nil
        return count > 1
    }

    /// Whether `path` is claimed (for tests).
    func isClaimed(_ path: String) -> Bool { claims.withLock { $0[path] != nil } }
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
