#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads ignore rule files with plain POSIX calls: they are small, read once per directory, and
/// on the scanner's path they are opened relative to the directory descriptor it already holds.
enum RuleFileReader {
    /// Git refuses pattern files above this size; so do we.
    static let maximumSize = 100 * 1024 * 1024

    /// The bytes of `name` relative to `directoryFD` (`AT_FDCWD` for a path), or `nil` when it
    /// is missing, unreadable, not a regular file or too large. A missing or broken rule file
    /// must never stop a scan, so errors are treated like an absent file, as git does.
    /// `followSymlink` is false for per-directory files: git does not follow a symlinked
    /// `.gitignore` either.
    static func contents(of name: String, relativeTo directoryFD: Int32, followSymlink: Bool) -> [UInt8]? {
        var flags = O_RDONLY | O_CLOEXEC
        if !followSymlink { flags |= O_NOFOLLOW }
        let fd = openat(directoryFD, name, flags)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let expected = Int(info.st_size)
        guard expected <= maximumSize else { return nil }
        var bytes = [UInt8](repeating: 0, count: max(expected, 0) + 1)
        var filled = 0
        // Read until end of file rather than trusting st_size: the file may be growing.
        while true {
            if filled == bytes.count {
                guard bytes.count <= maximumSize else { return nil }
                bytes.append(contentsOf: repeatElement(0, count: max(bytes.count, 4096)))
            }
            let count = bytes.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress.map { $0 + filled }, raw.count - filled)
            }
            if count > 0 {
                filled += count
            } else if count == 0 {
                break
            } else if errno != EINTR {
                return nil
            }
        }
        bytes.removeLast(bytes.count - filled)
        return bytes
    }
}
