#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The entries of one directory, read in one pass into a single byte buffer and sorted in git's
/// index order.
///
/// Reading the whole directory before judging any entry lets the rule files be loaded first, and
/// sorting siblings with directories compared as `name/` makes a depth-first walk emit paths in
/// plain byte order, so the scan result needs no global sort.
struct DirectoryListing {
    struct Entry {
        /// Offset of the name in `names`; the name is followed by a NUL for the `*at` calls.
        var offset: Int
        var length: Int
        /// A `d_type` value, never `DT_UNKNOWN` after `read`.
        var kind: UInt8
    }

    static let directoryKind = UInt8(DT_DIR)
    static let regularKind = UInt8(DT_REG)
    static let symlinkKind = UInt8(DT_LNK)

    private(set) var names: [UInt8] = []
    private(set) var entries: [Entry] = []
    private(set) var hasGitignore = false
    private(set) var hasDeltaSyncIgnore = false
    /// The `errno` of a failed `readdir`: the listing is then incomplete.
    private(set) var readError: Int32?

    private static let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)
    private static let gitignore = Array(".gitignore".utf8)
    private static let deltasyncignore = Array(".deltasyncignore".utf8)

    /// Reads every entry but `.` and `..`. Entries whose type the filesystem does not report
    /// are typed with one `fstatat`; entries that vanish meanwhile are dropped.
    static func read(_ stream: OpaquePointer, fd: Int32) -> DirectoryListing {
        var listing = DirectoryListing()
        guard let nameOffset else { return listing }
        listing.names.reserveCapacity(4096)
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { listing.readError = errno }
                break
            }
            let name = UnsafeRawPointer(entry) + nameOffset
            let length = strlen(name.assumingMemoryBound(to: CChar.self))
            let bytes = UnsafeRawBufferPointer(start: name, count: length)
            if length <= 2 && bytes.allSatisfy({ $0 == UInt8(ascii: ".") }) { continue }
            if bytes.elementsEqual(gitignore) { listing.hasGitignore = true }
            if bytes.elementsEqual(deltasyncignore) { listing.hasDeltaSyncIgnore = true }
            let offset = listing.names.count
            listing.names.append(contentsOf: bytes)
            listing.names.append(0)
            var kind = entry.pointee.d_type
            if kind == UInt8(DT_UNKNOWN) {
                guard let resolved = resolveKind(fd: fd, name: name.assumingMemoryBound(to: CChar.self)) else {
                    listing.names.removeLast(length + 1)
                    continue
                }
                kind = resolved
            }
            listing.entries.append(Entry(offset: offset, length: length, kind: kind))
        }
        listing.sort()
        return listing
    }

    private static func resolveKind(fd: Int32, name: UnsafePointer<CChar>) -> UInt8? {
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return directoryKind
        case S_IFREG: return regularKind
        case S_IFLNK: return symlinkKind
        default: return UInt8(DT_FIFO)  // some special file; the walk only needs "not one of the above"
        }
    }

    /// Git's order: byte order of names, with a directory compared as if it ended in `/`.
    private mutating func sort() {
        let names = self.names
        names.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            entries.sort { a, b in
                let common = min(a.length, b.length)
                let order = memcmp(base + a.offset, base + b.offset, common)
                if order != 0 { return order < 0 }
                let nextA = a.length > common ? base[a.offset + common] : (a.kind == Self.directoryKind ? 0x2F : 0)
                let nextB = b.length > common ? base[b.offset + common] : (b.kind == Self.directoryKind ? 0x2F : 0)
                return nextA < nextB
            }
        }
    }
}
