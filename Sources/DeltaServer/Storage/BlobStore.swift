import CDeltaSys
import DeltaCore
import Glibc

/// Content-addressed blobs on a filesystem: `blobs/<aa>/<sha256>`.
///
/// Blobs arrive as spooled temporary files in the same filesystem and are renamed into place, so
/// storing one costs a rename, not a copy. Durability is one `syncfs` per bundle (`flush()`).
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

    /// Moves `temporaryPath` into the store under `sha256` (dropping it if the blob exists).
    public func adopt(_ temporaryPath: String, sha256: String) throws {
        let target = path(for: sha256)
        if FileSystem.exists(target) {
            unlink(temporaryPath)
            return
        }
        let directory = String(target[..<(target.lastIndex(of: "/") ?? target.endIndex)])
        try FileSystem.createDirectory(directory, mode: 0o700)
        chmod(temporaryPath, 0o600)
        guard rename(temporaryPath, target) == 0 else { throw DeltaError.posix("rename", target) }
    }

    /// Flushes everything written to the filesystem holding the store (one `syncfs`).
    public func flush() throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", root) }
        defer { close(fd) }
        guard cdeltasys_syncfs(fd) == 0 else { throw DeltaError.posix("syncfs", root) }
    }
}
