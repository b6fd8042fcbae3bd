#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Walks a workspace and returns its regular, non-ignored files with their stat data.
///
/// Built for large trees (the Linux kernel, ~80k files): `readdir` plus `fstatat` relative to
/// an open directory descriptor, `d_type` to avoid a `stat` per directory, ignored directories
/// never entered, no global sort (siblings are sorted, which yields byte order overall), and
/// the subdirectories of the starting directory spread over the cores.
///
/// Nothing about an individual path is fatal: symlinks (never followed), sockets, FIFOs and
/// devices, names the bundle format cannot carry and unreadable directories are listed in
/// ``ScanResult/skipped`` and the walk goes on.
public struct TreeScanner: Sendable {
    public let root: String
    public let ignore: IgnoreRules

    /// `ignore` should be built for the same `root`.
    public init(root: String, ignore: IgnoreRules) {
        self.root = root
        self.ignore = ignore
    }

    /// Scans the whole workspace.
    public func scan() throws -> ScanResult {
        try scan(subdirectory: "")
    }

    /// Scans only `subdirectory` (workspace-relative; `""` for everything). Paths in the result
    /// are still relative to the root. A subdirectory that is ignored, missing or not a
    /// directory yields an empty result; one reached through a symlink is reported, not followed.
    public func scan(subdirectory: String) throws -> ScanResult {
        let start = IgnoreRules.normalized(subdirectory)
        let components = start.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        // "", "." and ".." would escape or alias the tree.
        let isInvalid = { (name: ArraySlice<UInt8>) in name.count <= 2 && name.allSatisfy { $0 == UInt8(ascii: ".") } }
        if !start.isEmpty && components.contains(where: isInvalid) {
            throw ScanError(code: "INVALID_PATH", message: "invalid subdirectory '\(subdirectory)'")
        }
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw ScanError.posix("SCAN_ROOT_UNREADABLE", "open", root, errno) }
        if start.isEmpty {
            return ParallelWalk.run(ignore: ignore, start: start, directoryFD: rootFD, scope: ignore.baseScope())
        }
        let startPath = String(decoding: start, as: UTF8.self)
        if ignore.isIgnored(startPath, isDirectory: true) {
            close(rootFD)
            return ScanResult()
        }
        // Descend one component at a time with O_NOFOLLOW so no ancestor symlink is followed,
        // collecting the rule files of each ancestor on the way.
        var fd = rootFD
        var scope = ignore.baseScope().appending(ignore.rules(forDirectory: ""))
        var prefix: [UInt8] = []
        for (index, component) in components.enumerated() {
            if !prefix.isEmpty { prefix.append(UInt8(ascii: "/")) }
            prefix.append(contentsOf: component)
            let name = String(decoding: component, as: UTF8.self)
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            var error = errno
            if child < 0 && error == ENOTDIR && Self.isSymlink(name, in: fd) {
                // With O_DIRECTORY, Linux reports a symlink as "not a directory".
                error = ELOOP
            }
            close(fd)
            guard child >= 0 else {
                return try Self.unreachable(String(decoding: prefix, as: UTF8.self), error: error)
            }
            fd = child
            if index < components.count - 1 {
                scope = scope.appending(ignore.rules(forDirectory: String(decoding: prefix, as: UTF8.self)))
            }
        }
        return ParallelWalk.run(ignore: ignore, start: start, directoryFD: fd, scope: scope)
    }

    private static func isSymlink(_ name: String, in fd: Int32) -> Bool {
        var info = stat()
        return fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    /// The result for a subdirectory whose path could not be opened.
    private static func unreachable(_ path: String, error: Int32) throws -> ScanResult {
        switch error {
        case ENOENT, ENOTDIR:
            return ScanResult()
        case ELOOP:
            return ScanResult(skipped: [SkippedPath(path: path, reason: SkippedPath.symlinkReason)])
        case EACCES, EPERM:
            return ScanResult(skipped: [SkippedPath(path: path, reason: SkippedPath.permissionDeniedReason)])
        default:
            throw ScanError.posix("IO_ERROR", "open", path, error)
        }
    }
}
