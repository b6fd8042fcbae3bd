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
    /// exists: the blob in place keeps its mode).
    public func adopt(
        _ temporaryPath: String, sha256: String, mode: UInt32 = 0o600, into adopted: inout Adopted
    ) throws {
        let target = path(for: sha256)
        if FileSystem.exists(target) {
            unlink(temporaryPath)
            return
        }
        chmod(temporaryPath, mode_t(mode))
        // The fan-out directory nearly always exists: made only when the rename says it is
        // missing (its first blob, or the store's root went missing).
        if rename(temporaryPath, target) != 0 {
            guard errno == ENOENT, FileSystem.exists(temporaryPath) else { throw DeltaError.posix("rename", target) }
            try FileSystem.createDirectory(
                String(target[..<(target.lastIndex(of: "/") ?? target.endIndex)]), mode: 0o700)
            adopted.newDirectories = true
            guard rename(temporaryPath, target) == 0 else { throw DeltaError.posix("rename", target) }
        }
        adopted.blobs.append(target)
    }

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

    private static func fsync(_ path: String, flags: Int32) throws {
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", path) }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw DeltaError.posix("fsync", path) }
    }
}
