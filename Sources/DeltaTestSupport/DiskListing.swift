import DeltaCore
import Glibc

/// Every entry below a directory, read with `open`/`readdir`/`lstat` and failing loudly.
///
/// Foundation's enumerators skip a directory they cannot open without a word, which turned a
/// listing that failed under load into a "missing files" test failure that could not be told
/// apart from a real one. Here any error but a name vanishing mid-walk throws, naming the path.
/// Directories are read whole and closed before descending, so depth costs no descriptors.
public enum DiskListing {
    public struct Entry: Sendable, Equatable {
        /// `S_IFREG`, `S_IFDIR`, `S_IFLNK`, … (the `S_IFMT` bits of `st_mode`).
        public var type: UInt32
        /// The permission bits.
        public var permissions: UInt32
    }

    /// The relative path and entry of everything below `root` (not `root` itself); empty when
    /// `root` does not exist. Top-level names in `excluding` are skipped with their contents.
    ///
    /// A list, not a `String`-keyed dictionary: `String` equality is canonical equivalence, and
    /// `é` and `e` + U+0301 are two files on disk.
    public static func entries(_ root: String, excluding: Set<String> = []) throws -> [(path: String, entry: Entry)] {
        guard FileSystem.exists(root) else { return [] }
        var result: [(path: String, entry: Entry)] = []
        var pending: [String] = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? root : root + "/" + relative
            guard let names = try names(in: directory) else { continue }
            for name in names {
                if relative.isEmpty && excluding.contains(name) { continue }
                let path = relative.isEmpty ? name : relative + "/" + name
                guard let info = StatFingerprint(lstatAt: root + "/" + path) else {
                    if errno == ENOENT { continue }
                    throw DeltaError.posix("lstat", root + "/" + path)
                }
                let type = info.mode & UInt32(S_IFMT)
                result.append((path, Entry(type: type, permissions: info.mode & 0o7777)))
                if type == UInt32(S_IFDIR) { pending.append(path) }
            }
        }
        return result
    }

    /// The relative paths of the regular files below `root`.
    public static func regularFiles(_ root: String) throws -> [String] {
        try entries(root).filter { $0.entry.type == UInt32(S_IFREG) }.map(\.path)
    }

    /// The names in `directory`, or nil when it vanished before it could be opened.
    private static func names(in directory: String) throws -> [String]? {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw DeltaError.posix("open", directory)
        }
        guard let stream = fdopendir(fd) else {
            close(fd)
            throw DeltaError.posix("fdopendir", directory)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw DeltaError.posix("readdir", directory) }
                return names
            }
            let name = FileSystem.direntName(entry)
            if name != "." && name != ".." { names.append(name) }
        }
    }
}
