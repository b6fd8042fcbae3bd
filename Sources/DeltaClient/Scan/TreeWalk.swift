import DeltaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The state of one depth-first walk: the current directory path as bytes and what was found.
///
/// Every directory is opened relative to its parent's descriptor with `O_NOFOLLOW`, so a symlink
/// swapped in for a directory mid-scan is never followed, and only names are resolved by the
/// kernel, never whole paths.
struct TreeWalk {
    private let ignore: IgnoreRules
    /// The current directory relative to the root, without a trailing slash (`""` at the root).
    private var path: [UInt8]
    private(set) var result = ScanResult()
    /// When set, subdirectories of the first directory visited are recorded here instead of
    /// entered, so that ``ParallelWalk`` can hand them to other threads.
    private(set) var deferred: [DeferredDirectory]?

    /// A subdirectory left for another walk, with where its results belong in this one.
    struct DeferredDirectory: Sendable {
        /// Its path relative to the root; its own name starts at `nameStart`.
        let path: [UInt8]
        let nameStart: Int
        /// The scope of its parent directory.
        let scope: IgnoreScope
        let filePosition: Int
        let skippedPosition: Int
    }

    init(ignore: IgnoreRules, startingAt directory: [UInt8], deferringSubdirectories: Bool = false) {
        self.ignore = ignore
        self.path = directory
        self.path.reserveCapacity(PathLimits.maxPathBytes + 256)
        self.deferred = deferringSubdirectories ? [] : nil
    }

    /// Walks the directory open at `fd` (and takes ownership of `fd`). `scope` holds the rules
    /// of its ancestors; its own rule files are read here, before any of its entries is judged.
    mutating func visit(directoryFD fd: Int32, scope: IgnoreScope) {
        guard let stream = fdopendir(fd) else {
            let error = errno
            close(fd)
            report(reason: Self.reason(for: error))
            result.isIncomplete = true
            return
        }
        defer { closedir(stream) }
        result.directoryCount += 1
        // Before the listing: an entry added after this stat changes the directory's mtime.
        var directoryInfo = stat()
        let statted = fstat(fd, &directoryInfo) == 0
        let listing = DirectoryListing.read(stream, fd: fd)
        if let error = listing.readError {
            // A partial listing would look like deleted files: report the directory instead.
            report(reason: "cannot read directory: \(String(cString: strerror(error)))")
            result.isIncomplete = true
            return
        }
        if statted {
            recordDirectory(directoryInfo, fd: fd, listing: listing)
        } else {
            result.isIncomplete = true
        }
        let rules = ignore.reloadRules(
            forDirectory: String(decoding: path, as: UTF8.self),
            fd: fd,
            present: (listing.hasGitignore, listing.hasDeltaSyncIgnore)
        )
        let inner = scope.appending(rules)
        let names = listing.names
        let deferring = deferred != nil && result.directoryCount == 1
        // Names that differ only in Unicode normalisation (`é` and `e\u{301}`) are two files on
        // disk but one key wherever Swift compares strings: keep the first, skip and report the rest.
        var nonASCIINames: Set<String> = []
        names.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for entry in listing.entries {
                let name = UnsafeBufferPointer(start: base + entry.offset, count: entry.length)
                if name.contains(where: { $0 >= 0x80 }),
                    !nonASCIINames.insert(String(decoding: name, as: UTF8.self)).inserted
                {
                    reportSkipped(
                        name, reason: "name differs from another name in its directory only in Unicode normalisation")
                    continue
                }
                visit(entry, name: name, in: fd, scope: inner, deferring: deferring)
            }
        }
    }

    /// Opens the subdirectory `name` of `parentFD` (never through a symlink) and walks it;
    /// `path` must already name it.
    mutating func descend(into name: UnsafePointer<CChar>, of parentFD: Int32, scope: IgnoreScope) {
        let child = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard child >= 0 else {
            let error = errno
            // Gone or replaced since it was listed (a swapped-in symlink fails with ENOTDIR
            // or ELOOP and is not followed): the next scan sees what is there now.
            result.isIncomplete = true
            if error == ENOENT || error == ENOTDIR || error == ELOOP { return }
            report(reason: Self.reason(for: error))
            return
        }
        visit(directoryFD: child, scope: scope)
    }

    private mutating func visit(
        _ entry: DirectoryListing.Entry, name: UnsafeBufferPointer<UInt8>, in fd: Int32, scope: IgnoreScope,
        deferring: Bool
    ) {
        let parentLength = path.count
        if parentLength > 0 { path.append(UInt8(ascii: "/")) }
        let nameStart = path.count
        path.append(contentsOf: name)
        defer { path.removeLast(path.count - parentLength) }

        let isDirectory = entry.kind == DirectoryListing.directoryKind
        if scope.isExcluded(path, nameStart: nameStart, isDirectory: isDirectory) { return }
        if let problem = PathLimits.problem(name: name, pathLength: path.count) {
            report(reason: problem)
            return
        }
        // The listing stores a NUL after every name, so the bytes double as a C string.
        guard let cName = name.baseAddress.map({ UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }) else {
            return
        }
        switch entry.kind {
        case DirectoryListing.directoryKind:
            if deferring {
                deferred?.append(
                    DeferredDirectory(
                        path: path, nameStart: nameStart, scope: scope,
                        filePosition: result.files.count, skippedPosition: result.skipped.count
                    )
                )
            } else {
                descend(into: cName, of: fd, scope: scope)
            }
        case DirectoryListing.regularKind:
            var info = stat()
            guard fstatat(fd, cName, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                let error = errno
                result.isIncomplete = true
                if error != ENOENT { report(reason: "stat failed: \(String(cString: strerror(error)))") }
                return
            }
            switch info.st_mode & S_IFMT {
            case S_IFREG: result.files.append(Self.file(String(decoding: path, as: UTF8.self), info))
            case S_IFLNK: report(reason: SkippedPath.symlinkReason)
            default:
                // Replaced by a directory or device since it was listed; the next scan sees it.
                result.isIncomplete = true
            }
        case DirectoryListing.symlinkKind:
            report(reason: SkippedPath.symlinkReason)
        default:
            report(reason: SkippedPath.specialFileReason)
        }
    }

    /// Keeps the directory's stat and its rule files' for ``TreeSnapshot``.
    private mutating func recordDirectory(_ info: stat, fd: Int32, listing: DirectoryListing) {
        var ruleFiles: [ScannedDirectory.RuleFileFingerprint] = []
        for (name, present) in zip(IgnoreRules.ruleFileNames, [listing.hasGitignore, listing.hasDeltaSyncIgnore])
        where present {
            var ruleInfo = stat()
            if fstatat(fd, name, &ruleInfo, AT_SYMLINK_NOFOLLOW) == 0 {
                ruleFiles.append(.init(name: name, fingerprint: StatFingerprint(ruleInfo)))
            } else {
                result.isIncomplete = true
            }
        }
        result.directories.append(
            ScannedDirectory(
                path: String(decoding: path, as: UTF8.self), fingerprint: StatFingerprint(info), ruleFiles: ruleFiles))
    }

    private mutating func reportSkipped(_ name: UnsafeBufferPointer<UInt8>, reason: String) {
        let parentLength = path.count
        if parentLength > 0 { path.append(UInt8(ascii: "/")) }
        path.append(contentsOf: name)
        report(reason: reason)
        path.removeLast(path.count - parentLength)
    }

    private mutating func report(reason: String) {
        result.skipped.append(SkippedPath(path: String(decoding: path, as: UTF8.self), reason: reason))
    }

    private static func file(_ path: String, _ info: stat) -> ScannedFile {
        ScannedFile(
            path: path,
            size: Int64(info.st_size),
            mtimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            ctimeNanoseconds: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec),
            inode: UInt64(info.st_ino),
            mode: UInt32(info.st_mode & 0o7777)
        )
    }

    static func reason(for error: Int32) -> String {
        switch error {
        case EACCES, EPERM: return SkippedPath.permissionDeniedReason
        default: return "cannot open: \(String(cString: strerror(error)))"
        }
    }
}
