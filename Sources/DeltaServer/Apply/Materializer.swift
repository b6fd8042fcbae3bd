import CDeltaSys
import DeltaCore
import Foundation
import Glibc

/// Keeps `WORK_DIR/workspaces/<key>/` equal to the database's file table: regular files only,
/// 0644 or 0755, written to a temporary file and renamed into place, every path component opened
/// with `O_NOFOLLOW`, empty directories pruned.
///
/// The copy is derived data: the database is the truth, and `materialized_sequence` records how
/// far the copy has caught up, so a crash at any point is repaired at start-up by replaying the
/// paths touched since then.
struct Materializer: Sendable {
    let root: String
    let temporaryDirectory: String
    let blobs: BlobStore

    func directory(for workspace: String) -> String { root + "/" + workspace }

    /// Applies `changes` to the workspace's copy: deletions first, then writes.
    func apply(workspace: String, changes: [FileChange]) throws {
        let base = directory(for: workspace)
        try FileSystem.createDirectory(base)
        var walker = try DirectoryWalker(root: base)
        defer { walker.closeAll() }
        for case .delete(let path) in changes {
            try walker.remove(path)
        }
        let tempfd = open(temporaryDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard tempfd >= 0 else { throw DeltaError.posix("open", temporaryDirectory) }
        defer { close(tempfd) }
        for case .upsert(let file) in changes {
            try write(file, walker: &walker, tempfd: tempfd)
        }
    }

    private func write(_ file: FileRecord, walker: inout DirectoryWalker, tempfd: Int32) throws {
        let components = file.path.split(separator: "/")
        guard let leaf = components.last else { return }
        let parent = components.dropLast().joined(separator: "/")
        let dirfd = try walker.open(parent, create: true)
        let temp = temporaryDirectory + "/m-" + UUID().uuidString
        do {
            let source = try RawFile.open(reading: blobs.path(for: file.sha256))
            let output = try RawFile.create(temp, mode: 0o600, exclusive: true)
            guard cdeltasys_copy_file(source.fd, output.fd, file.size) == 0 else {
                throw DeltaError.posix("copy", file.path)
            }
            guard fchmod(output.fd, file.mode & 0o111 != 0 ? 0o755 : 0o644) == 0 else {
                throw DeltaError.posix("fchmod", file.path)
            }
        } catch {
            unlink(temp)
            throw error
        }
        let name = String(leaf)
        let tempName = String(temp[temp.index(after: temp.lastIndex(of: "/") ?? temp.startIndex)...])
        if renameat(tempfd, tempName, dirfd, name) != 0 {
            if errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST {
                // A stale directory where the file goes: the database says it is a file now.
                FileSystem.removeTree(walker.path(parent) + "/" + name)
                if renameat(tempfd, tempName, dirfd, name) == 0 { return }
            }
            let error = DeltaError.posix("rename", file.path)
            unlink(temp)
            throw error
        }
    }

    /// Brings every workspace's copy up to its `last_sequence` (start-up repair).
    func repair(storage: any DeltaStorage) async throws -> Int {
        var repaired = 0
        for workspace in try await storage.workspaces()
        where workspace.materializedSequence < workspace.lastSequence
            || !FileSystem.exists(directory(for: workspace.key))
        {
            let changes: [FileChange]
            if !FileSystem.exists(directory(for: workspace.key)) || workspace.materializedSequence == 0 {
                changes = try await storage.files(workspace: workspace.key).files.map { .upsert($0) }
            } else {
                var touched: Set<String> = []
                var since = workspace.materializedSequence
                while true {
                    let page = try await storage.changes(workspace: workspace.key, since: since, limit: 1000)
                    for change in page {
                        for operation in change.operations {
                            touched.insert(operation.path)
                            if let source = operation.sourcePath { touched.insert(source) }
                        }
                        since = change.sequence
                    }
                    if page.count < 1000 { break }
                }
                let current = try await storage.files(workspace: workspace.key, paths: Array(touched))
                changes = touched.sorted().map { path in current[path].map { .upsert($0) } ?? .delete(path: path) }
            }
            try apply(workspace: workspace.key, changes: changes)
            try await storage.setMaterializedSequence(workspace: workspace.key, sequence: workspace.lastSequence)
            repaired += 1
        }
        return repaired
    }
}

/// Opens directories below a root one component at a time with `O_NOFOLLOW`, caching the
/// descriptors for the duration of one bundle.
struct DirectoryWalker {
    let root: String
    private var open: [String: Int32] = [:]

    init(root: String) throws {
        self.root = root
        let fd = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", root) }
        open[""] = fd
    }

    func path(_ relative: String) -> String { relative.isEmpty ? root : root + "/" + relative }

    /// The descriptor of directory `relative` ("" is the root); creates missing directories and
    /// replaces a file or link standing where a directory must be when `create` is set.
    mutating func open(_ relative: String, create: Bool) throws -> Int32 {
        if let fd = open[relative] { return fd }
        let slash = relative.lastIndex(of: "/")
        let parentPath = slash.map { String(relative[..<$0]) } ?? ""
        let name = slash.map { String(relative[relative.index(after: $0)...]) } ?? relative
        let parent = try open(parentPath, create: create)
        var fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 && create {
            if errno == ENOTDIR || errno == ELOOP {
                unlinkat(parent, name, 0)
            }
            if mkdirat(parent, name, 0o755) != 0 && errno != EEXIST {
                throw DeltaError.posix("mkdir", path(relative))
            }
            fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else { throw DeltaError.posix("open", path(relative)) }
        open[relative] = fd
        return fd
    }

    /// Removes file `relative` if present and prunes directories it leaves empty.
    mutating func remove(_ relative: String) throws {
        let slash = relative.lastIndex(of: "/")
        let parentPath = slash.map { String(relative[..<$0]) } ?? ""
        let name = slash.map { String(relative[relative.index(after: $0)...]) } ?? relative
        guard let parent = try? open(parentPath, create: false) else { return }
        if unlinkat(parent, name, 0) != 0 {
            if errno == EISDIR { FileSystem.removeTree(path(relative)) }
            return
        }
        var directory = parentPath
        while !directory.isEmpty {
            let up = directory.lastIndex(of: "/")
            let upPath = up.map { String(directory[..<$0]) } ?? ""
            let upName = up.map { String(directory[directory.index(after: $0)...]) } ?? directory
            guard let upFD = try? open(upPath, create: false) else { return }
            guard unlinkat(upFD, upName, AT_REMOVEDIR) == 0 else { return }
            if let fd = open.removeValue(forKey: directory) { close(fd) }
            directory = upPath
        }
    }

    mutating func closeAll() {
        for fd in open.values { close(fd) }
        open.removeAll()
    }
}
