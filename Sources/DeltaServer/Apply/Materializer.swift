import CDeltaSys
import DeltaCore
import Foundation
import Glibc

/// Keeps `WORK_DIR/workspaces/<key>/` equal to the database's file table: regular files only,
/// 0644 or 0755, each a hard link to its blob when the blob has the file's mode (else a copy),
/// linked or written under a temporary name and renamed into place, every path component opened
/// with `O_NOFOLLOW`, empty directories pruned. The copy is read-only by contract: a file
/// changed in place there would change its blob too.
///
/// The copy is derived data: the database is the truth, and `materialized_sequence` records how
/// far the copy has caught up, so a crash at any point is repaired at start-up by replaying the
/// paths touched since then.
struct Materializer: Sendable {
    let root: String
    let temporaryDirectory: String
    let blobs: BlobStore
    var failpoints = Failpoints()

    func directory(for workspace: String) -> String { root + "/" + workspace }

    /// Applies `changes` to the workspace's copy: deletions first, then writes.
    /// `blobModes` gives the modes of blobs known without a look (stored by this bundle).
    func apply(workspace: String, changes: [FileChange], blobModes: [String: UInt32] = [:]) throws {
        try apply(changes, under: directory(for: workspace), blobModes: blobModes)
    }

    private func apply(_ changes: [FileChange], under base: String, blobModes: [String: UInt32] = [:]) throws {
        if failpoints.materialiseError {
            throw DeltaError(.io, "materialising failed (DELTASYNC_FAILPOINT=materialise-error)")
        }
        try FileSystem.createDirectory(base)
        var walker = try DirectoryWalker(root: base)
        defer { walker.closeAll() }
        for case .delete(let path) in changes {
            try walker.remove(path)
        }
        let tempfd = open(temporaryDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard tempfd >= 0 else { throw DeltaError.posix("open", temporaryDirectory) }
        defer { close(tempfd) }
        // Blobs are linked by their path below the store's root (two components to walk, not
        // the whole of WORK_DIR's: the walk was about a tenth of the links' kernel time).
        let blobsRoot = BlobStore.RootDirectory(blobs)
        for case .upsert(let file) in changes {
            try write(file, walker: &walker, tempfd: tempfd, blobsRoot: blobsRoot, blobMode: blobModes[file.sha256])
        }
    }

    private func write(
        _ file: FileRecord, walker: inout DirectoryWalker, tempfd: Int32, blobsRoot: BlobStore.RootDirectory,
        blobMode: UInt32?
    ) throws {
        let (parent, name) = PathRules.split(file.path)
        guard !name.isEmpty else { return }
        let dirfd = try walker.open(parent, create: true)
        let mode: UInt32 = file.mode & 0o111 != 0 ? 0o755 : 0o644
        let blob = blobs.path(for: file.sha256)
        // The blob stored with this mode is the copy: a new name is one link, nothing written.
        var shared = (blobMode ?? blobs.mode(ofBlobAt: blob)) == mode
        if shared {
            if blobs.link(file.sha256, root: blobsRoot, to: dirfd, name: name) == 0 { return }
            // The name exists (replaced below, atomically), or the inode has all the links it can.
            guard errno == EEXIST || errno == EMLINK else { throw DeltaError.posix("link", file.path) }
            shared = errno == EEXIST
        }
        let temp = temporaryDirectory + "/m-" + UUID().uuidString
        let tempName = PathRules.split(temp).name
        do {
            if !shared || linkat(AT_FDCWD, blob, tempfd, tempName, 0) != 0 {
                shared = false
                let source = try RawFile.open(reading: blob)
                let output = try RawFile.create(temp, mode: 0o600, exclusive: true)
                guard cdeltasys_copy_file(source.fd, output.fd, file.size) == 0 else {
                    throw DeltaError.posix("copy", file.path)
                }
                guard fchmod(output.fd, mode_t(mode)) == 0 else { throw DeltaError.posix("fchmod", file.path) }
            }
        } catch {
            unlink(temp)
            throw error
        }
        // Renaming a link over a name for the same inode does nothing: the link is removed then.
        defer { if shared { unlinkat(tempfd, tempName, 0) } }
        if renameat(tempfd, tempName, dirfd, name) != 0 {
            if errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST {
                // A stale directory where the file goes: the database says it is a file now.
                FileSystem.removeTree(parent: dirfd, name: name)
                if renameat(tempfd, tempName, dirfd, name) == 0 { return }
            }
            let error = DeltaError.posix("rename", file.path)
            unlink(temp)
            throw error
        }
    }

    /// Brings every workspace's copy up to its `last_sequence` (start-up repair). A workspace
    /// whose repair fails is reported in `failed` and left for a later retry; it never stops the
    /// others, nor the server.
    func repair(storage: any DeltaStorage) async throws -> (repaired: Int, failed: [(String, any Error)]) {
        var repaired = 0
        var failed: [(String, any Error)] = []
        for workspace in try await storage.workspaces()
        where workspace.materializedSequence < workspace.lastSequence
            || !FileSystem.exists(directory(for: workspace.key))
        {
            do {
                try await repair(workspace, storage: storage)
                repaired += 1
            } catch {
                failed.append((workspace.key, error))
            }
        }
        return (repaired, failed)
    }

    /// Replays the paths touched since the copy's `materialized_sequence`.
    private func repair(_ workspace: WorkspaceRecord, storage: any DeltaStorage) async throws {
        do {
            let changes: [FileChange]
            if !FileSystem.exists(directory(for: workspace.key)) || workspace.materializedSequence == 0 {
                changes = try await storage.files(workspace: workspace.key).files.map { .upsert($0) }
            } else {
                var touched: Set<PathKey> = []
                var since = workspace.materializedSequence
                while true {
                    let page = try await storage.changes(workspace: workspace.key, since: since, limit: 1000)
                    for change in page {
                        for operation in change.operations {
                            touched.insert(PathKey(operation.path))
                            if let source = operation.sourcePath { touched.insert(PathKey(source)) }
                        }
                        since = change.sequence
                    }
                    if page.count < 1000 { break }
                }
                let current = try await storage.files(workspace: workspace.key, paths: touched.map(\.string))
                changes = touched.sorted().map { path in current[path].map { .upsert($0) } ?? .delete(path: path.string)
                }
            }
            try await Blocking.run { try apply(workspace: workspace.key, changes: changes) }
            try await storage.setMaterializedSequence(workspace: workspace.key, sequence: workspace.lastSequence)
        }
    }

    /// Rebuilds a workspace's copy from the database alone: every current file is written into a
    /// fresh directory, which then replaces the old copy in one rename. Used by
    /// `deltasync repair` and by the server's retries for degraded workspaces.
    func rebuild(workspace key: String, storage: any DeltaStorage) async throws -> Int {
        let (sequence, files) = try await storage.files(workspace: key)
        let target = directory(for: key)
        try await Blocking.run {
            // Names starting with '.' can never be workspace keys, so these cannot collide.
            let fresh = root + "/.rebuild-" + UUID().uuidString.lowercased()
            let trash = root + "/.trash-" + UUID().uuidString.lowercased()
            try FileSystem.createDirectory(fresh)
            do {
                try apply(files.map { .upsert($0) }, under: fresh)
                if FileSystem.exists(target), rename(target, trash) != 0 { throw DeltaError.posix("rename", target) }
                guard rename(fresh, target) == 0 else { throw DeltaError.posix("rename", fresh) }
            } catch {
                FileSystem.removeTree(fresh)
                throw error
            }
            FileSystem.removeTree(trash)
        }
        try await storage.setMaterializedSequence(workspace: key, sequence: sequence)
        return files.count
    }
}
