#if canImport(Glibc)
    public import Glibc
#elseif canImport(Darwin)
    public import Darwin
#endif

/// A thin owner of a POSIX file descriptor for the hot paths (spooling, blob writes, hashing),
/// where Foundation's `FileHandle` and `Data` copies cost too much.
public final class RawFile: Sendable {
    public let fd: Int32
    /// The path it was opened by, for error messages.
    public let path: String?

    public init(adopting fd: Int32, path: String? = nil) {
        self.fd = fd
        self.path = path
    }

    private var name: String { path ?? "fd \(fd)" }

    /// Opens `path` for reading.
    public static func open(reading path: String) throws -> RawFile {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", path) }
        return RawFile(adopting: fd, path: path)
    }

    /// Creates (or truncates) `path` for writing with `mode`.
    public static func create(_ path: String, mode: mode_t = 0o644, exclusive: Bool = false) throws -> RawFile {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC)
        let fd = Glibc.open(path, flags, mode)
        guard fd >= 0 else { throw DeltaError.posix("create", path) }
        return RawFile(adopting: fd, path: path)
    }

    /// Creates `path` with exactly `mode`, whatever the process's umask: `fchmod` only when the
    /// umask would have taken a bit away (a new file's mode is `mode & ~umask`).
    public static func create(_ path: String, exactMode mode: mode_t) throws -> RawFile {
        let file = try create(path, mode: mode, exclusive: true)
        if FileSystem.umask.map({ $0 & mode != 0 }) ?? true {
            guard fchmod(file.fd, mode) == 0 else { throw DeltaError.posix("chmod", path) }
        }
        return file
    }

    /// Reads up to `buffer.count` bytes; 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw DeltaError.posix("read", name)
        }
    }

    /// Reads up to `buffer.count` bytes from `offset`, leaving the file's position alone; 0 at
    /// end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw DeltaError.posix("read", name)
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw DeltaError.posix("write", name)
            }
            offset += n
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try write(raw) }
    }

    public func sync() throws {
        guard fsync(fd) == 0 else { throw DeltaError.posix("fsync", name) }
    }

    /// Size from `fstat`.
    public func size() throws -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DeltaError.posix("fstat", name) }
        return Int64(info.st_size)
    }

    /// The file's stat fingerprint, from `fstat`.
    public func fingerprint() throws -> StatFingerprint {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DeltaError.posix("fstat", name) }
        return StatFingerprint(info)
    }

    deinit { Glibc.close(fd) }
}

/// The parts of a `stat` result that change when a file's content, type, mode or identity does
/// (a directory's when an entry is added, removed or renamed).
public struct StatFingerprint: Sendable, Hashable {
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var ctimeNanoseconds: Int64
    public var inode: UInt64
    /// The whole `st_mode`: type and permission bits.
    public var mode: UInt32

    public init(size: Int64, mtimeNanoseconds: Int64, ctimeNanoseconds: Int64, inode: UInt64, mode: UInt32) {
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.ctimeNanoseconds = ctimeNanoseconds
        self.inode = inode
        self.mode = mode
    }

    public init(_ info: stat) {
        self.init(
            size: Int64(info.st_size),
            mtimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            ctimeNanoseconds: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec),
            inode: UInt64(info.st_ino), mode: UInt32(info.st_mode))
    }

    /// The fingerprint of whatever is at `path` (not followed if a symlink); nil when nothing is.
    public init?(lstatAt path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        self.init(info)
    }
}

extension DeltaError {
    /// An `IO_ERROR` carrying the current `errno`, with the fix when there is an obvious one.
    public static func posix(_ operation: String, _ path: String) -> DeltaError {
        posix(operation, path, errno: errno)
    }

    public static func posix(_ operation: String, _ path: String, errno code: Int32) -> DeltaError {
        let reason = String(cString: strerror(code))
        var message = "\(operation) \(path): \(reason)"
        switch code {
        case ENOSPC, EDQUOT:
            message =
                "no space left to \(operation) \(path) (\(reason)): free some space on that filesystem and run again"
        case EACCES, EPERM:
            message = "not allowed to \(operation) \(path) (\(reason)): check its owner and permissions"
        default:
            break
        }
        return DeltaError(.io, message, details: ["errno": .int(Int64(code))])
    }
}

/// Small filesystem helpers used by both the client and the server.
public enum FileSystem {
    /// The process's file-creation mask, read once from `/proc/self/status` (`umask(2)` can
    /// only be read by setting it, which would race with other threads); nil when unknown.
    /// Read at first use: nothing in DeltaSync changes the umask after that.
    public static let umask: mode_t? = {
        guard let status = try? readAll("/proc/self/status") else { return nil }
        for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Umask:") {
            return mode_t(line.dropFirst(6).trimmingPrefix(while: { $0 == " " || $0 == "\t" }), radix: 8)
        }
        return nil
    }()

    /// `mkdir -p`.
    public static func createDirectory(_ path: String, mode: mode_t = 0o755) throws {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        if errno == ENOENT {
            let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            if !parent.isEmpty, parent != path {
                try createDirectory(parent, mode: mode)
                if mkdir(path, mode) == 0 || errno == EEXIST { return }
            }
        }
        throw DeltaError.posix("mkdir", path)
    }

    /// Removes a file or a whole directory tree; missing is fine. Never follows symlinks, and
    /// holds at most two descriptors open whatever the depth.
    public static func removeTree(_ path: String) {
        let utf8 = path.utf8
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else {
            removeTree(parent: AT_FDCWD, name: path)
            return
        }
        let parentPath = slash == utf8.startIndex ? "/" : String(decoding: utf8[..<slash], as: UTF8.self)
        let name = String(decoding: utf8[utf8.index(after: slash)...], as: UTF8.self)
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        defer { close(parent) }
        removeTree(parent: parent, name: name)
    }

    /// Removes `name` below `parent`, file or directory tree, without following links and with
    /// at most two descriptors open at a time whatever the depth; errors leave what is left.
    public static func removeTree(parent: Int32, name: String) {
        if unlinkat(parent, name, 0) == 0 || errno != EISDIR { return }
        var names: [String] = [name]
        var fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        while true {
            var subdirectory: String?
            for entry in listing(fd) where unlinkat(fd, entry, 0) != 0 {
                if errno == EISDIR {
                    subdirectory = entry
                    break
                }
            }
            if let subdirectory {
                let child = openat(fd, subdirectory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else {
                    close(fd)
                    return
                }
                close(fd)
                fd = child
                names.append(subdirectory)
                continue
            }
            // Empty now: climb and remove it.
            let finished = names.removeLast()
            if names.isEmpty {
                close(fd)
                unlinkat(parent, finished, AT_REMOVEDIR)
                return
            }
            let up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            guard up >= 0, unlinkat(up, finished, AT_REMOVEDIR) == 0 else {
                if up >= 0 { close(up) }
                return
            }
            fd = up
        }
    }

    /// The names in directory `fd` (its own descriptor is left open).
    private static func listing(_ fd: Int32) -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let directory = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return []
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = direntName(entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The name of a `readdir` entry.
    public static func direntName(_ entry: UnsafeMutablePointer<dirent>) -> String {
        withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Copies the regular file `source` to a new file `destination` (0600), in 256 KiB reads.
    public static func copyFile(_ source: String, to destination: String) throws {
        let input = try RawFile.open(reading: source)
        let output = try RawFile.create(destination, mode: 0o600, exclusive: true)
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if count == 0 { return }
            try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Reads a whole (small) file.
    public static func readAll(_ path: String, limit: Int = 1 << 30) throws -> [UInt8] {
        let file = try RawFile.open(reading: path)
        var out = [UInt8]()
        // Its size now: growing by doubling copied a large file once or twice more, and held
        // two copies at once.
        out.reserveCapacity(Int(min(Int64(limit), max(0, (try? file.size()) ?? 0))))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { raw in try file.read(into: raw) }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw DeltaError(.io, "\(path) is larger than \(limit) bytes") }
        }
        return out
    }

    /// Writes `bytes` to `path` atomically (temp file in the same directory, fsync unless
    /// `sync` is false — a cache that checks itself —, rename).
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, sync: Bool = true)
        throws
    {
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let file = try RawFile.create(temp, mode: mode)
            try file.write(bytes)
            if sync { try file.sync() }
        }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw DeltaError.posix("rename", path)
        }
    }
}
