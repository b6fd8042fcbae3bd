import CDeltaSys
import DeltaCore
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a full scan saw, kept in the state directory so that the next push can tell "nothing
/// changed" with one `stat` per file and per directory and no directory read — git's index and
/// untracked cache, for the no-change push.
///
/// The snapshot holds, for every directory the scan read, its stat taken before its listing and
/// the stat of its rule files, and for every file the stat the file table has. It stands for the
/// tree only while all of these hold:
/// - the file table is the one it was taken beside: a token that every change to the table
///   bumps (``ClientState/filesGeneration()``) is stored with it;
/// - every directory has its mtime, ctime and inode (an entry added, removed or renamed changes
///   them), every file and rule file its size, mtime, ctime, inode and mode;
/// - `.git/info/exclude`, the default excludes, the state directory's name, the root and the
///   server's per-file limit are what they were.
///
/// A scan is not kept when it could not read something, when a path was skipped for a reason
/// that may not recur, or when a directory or rule file changed less than ``racyWindow`` before
/// the walk began: a second change within the same timestamp tick could leave its stat unchanged
/// (git calls these entries racy). A racy file (the one just edited, say) is kept with its
/// SHA-256, and the check hashes it again when its stat matches, as git does; more than
/// ``maxRacyFiles`` of them and the scan is not kept. Any doubt means a full scan, never a
/// missed change.
public struct TreeSnapshot: Sendable {
    /// What the snapshot must agree with besides the tree.
    public struct Context: Sendable, Hashable {
        public var root: String
        public var stateDirectoryName: String
        public var usesDefaultExcludes: Bool
        public var maxFileBytes: Int64

        var encoded: String {
            [root, stateDirectoryName, usesDefaultExcludes ? "defaults" : "no-defaults", String(maxFileBytes)]
                .joined(separator: "\n")
        }
    }

    /// What a check that found nothing changed reports.
    public struct Unchanged: Sendable {
        public var fileCount: Int
        /// The paths the full scan skipped (symlinks, special files, too large, bad names): they
        /// are still skipped.
        public var skipped: [SkippedPath]
    }

    /// The snapshot file in a state directory.
    public static let fileName = "tree-snapshot"
    static let magic = Array("DELTASYNC TREE SNAPSHOT 1\n".utf8)
    /// Entries changed this recently before the walk began are not trusted (timestamps are
    /// coarse, and FAT's are two seconds).
    public static let racyWindow: Duration = .seconds(2)
    /// Racy files a snapshot may hold (each is hashed by every check).
    static let maxRacyFiles = 64

    /// Everything but the generation header and the checksum.
    let body: [UInt8]
    public let fileCount: Int

    /// The snapshot of a full scan, or nil when the scan cannot stand for the tree.
    /// - Parameters:
    ///   - detectionSkipped: what detection skipped (too large, vanished while hashing).
    ///   - walkStarted: `CLOCK_REALTIME` in nanoseconds, read before the walk began.
    ///   - racyWindow: entries changed this shortly before `walkStarted` are racy.
    ///   - digest: the SHA-256 (hex) the file table has for a path; asked only for racy files.
    public init?(
        scan: ScanResult, detectionSkipped: [SkippedPath], context: Context, walkStarted: Int64,
        racyWindow: Duration = TreeSnapshot.racyWindow, digest: (String) -> String? = { _ in nil }
    ) {
        guard !scan.isIncomplete,
            detectionSkipped.allSatisfy({ $0.reason.hasPrefix(SkippedPath.tooLargePrefix) })
        else { return nil }
        let racyFrom = walkStarted - racyWindow.nanoseconds
        func isRacy(_ fingerprint: StatFingerprint) -> Bool {
            fingerprint.mtimeNanoseconds >= racyFrom || fingerprint.ctimeNanoseconds >= racyFrom
        }
        // Files by directory; every directory of a file must have been read.
        var filesByDirectory: [Substring: [Int]] = [:]
        filesByDirectory.reserveCapacity(scan.directories.count)
        for (index, file) in scan.files.enumerated() {
            let path = file.path
            let directory = path.lastIndex(of: "/").map { path[..<$0] } ?? ""
            filesByDirectory[directory, default: []].append(index)
        }
        guard filesByDirectory.count <= scan.directories.count else { return nil }

        var writer = ByteWriter()
        writer.bytes.reserveCapacity(scan.files.count * 64 + scan.directories.count * 96 + 4096)
        writer.append(Self.magic)
        writer.append(string: context.encoded)
        writer.append(fingerprint: Self.infoExcludeFingerprint(root: context.root))
        let skipped = scan.skipped + detectionSkipped
        writer.append(UInt32(skipped.count))
        for path in skipped {
            writer.append(string: path.path)
            writer.append(string: path.reason)
        }
        writer.append(UInt32(scan.directories.count))
        var recordedFiles = 0
        var racyFiles = 0
        for directory in scan.directories {
            guard !isRacy(directory.fingerprint), !directory.ruleFiles.contains(where: { isRacy($0.fingerprint) })
            else { return nil }
            writer.append(string: directory.path.isEmpty ? "." : directory.path)
            writer.append(fingerprint: directory.fingerprint)
            writer.append(UInt32(directory.ruleFiles.count))
            for rule in directory.ruleFiles {
                writer.append(string: rule.name)
                writer.append(fingerprint: rule.fingerprint)
            }
            let files = filesByDirectory[directory.path[...]] ?? []
            writer.append(UInt32(files.count))
            let nameStart = directory.path.isEmpty ? 0 : directory.path.utf8.count + 1
            for index in files {
                let file = scan.files[index]
                let fingerprint = StatFingerprint(file)
                writer.append(utf8: file.path.utf8.dropFirst(nameStart))
                if isRacy(fingerprint) {
                    racyFiles += 1
                    guard racyFiles <= Self.maxRacyFiles, let sha256 = digest(file.path) else { return nil }
                    writer.append(fingerprint: fingerprint, digest: sha256)
                } else {
                    writer.append(fingerprint: fingerprint)
                }
            }
            recordedFiles += files.count
        }
        guard recordedFiles == scan.files.count else { return nil }
        body = writer.bytes
        fileCount = scan.files.count
    }

    /// Writes the snapshot for the file table at `generation` (replacing any other). A cache:
    /// not synced, and a torn file fails its checksum.
    public func save(in stateDirectory: String, generation: String) throws {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(body.count + generation.utf8.count + 16)
        writer.append(string: generation)
        writer.append(body)
        writer.append(Self.checksum(writer.bytes[...]))
        try FileSystem.writeAtomically(stateDirectory + "/" + Self.fileName, writer.bytes, sync: false)
    }

    /// Removes the snapshot of a state directory.
    public static func remove(in stateDirectory: String) {
        unlink(stateDirectory + "/" + fileName)
    }

    /// A saved snapshot whose directories and rule files all still match: it stands for the
    /// tree if it was also taken beside the file table and in the context of now
    /// (``standsFor(context:generation:)``), apart from ``changedFiles``.
    public struct Matched: Sendable {
        let generation: String
        let context: String
        let unchanged: Unchanged
        /// Files whose stat (or, for a racy file, content) differs, in directories that do not:
        /// edits in place. Nothing was added, removed or renamed anywhere.
        public internal(set) var changedFiles: [ChangedFile]
        /// The snapshot file, and where its body starts (after the generation).
        var bytes: [UInt8]
        let bodyStart: Int
        /// `CLOCK_REALTIME` in nanoseconds before the first stat.
        let checkStarted: Int64

        /// What was found, when the snapshot belongs to `generation` and `context`.
        public func standsFor(context: Context, generation: String) -> Unchanged? {
            self.generation == generation && self.context == context.encoded ? unchanged : nil
        }

        /// The snapshot with the records of ``changedFiles`` replaced by `states` (their stat
        /// and digest now, as detection found them); nil when one is missing or the result would
        /// not be kept.
        func patched(with states: [String: TrackedFile], racyWindow: Duration) -> TreeSnapshot? {
            let racyFrom = checkStarted - racyWindow.nanoseconds
            var content = Array(bytes[..<(bytes.count - 8)])
            var racy = 0
            for changed in changedFiles.sorted(by: { $0.record.lowerBound > $1.record.lowerBound }) {
                guard let state = states[changed.path] else { return nil }
                let fingerprint = StatFingerprint(
                    size: state.size, mtimeNanoseconds: state.mtimeNanoseconds,
                    ctimeNanoseconds: state.ctimeNanoseconds,
                    inode: state.inode, mode: UInt32(S_IFREG) | state.mode)
                var writer = ByteWriter()
                if fingerprint.mtimeNanoseconds >= racyFrom || fingerprint.ctimeNanoseconds >= racyFrom {
                    racy += 1
                    writer.append(fingerprint: fingerprint, digest: state.sha256)
                } else {
                    writer.append(fingerprint: fingerprint)
                }
                content.replaceSubrange(changed.record, with: writer.bytes)
            }
            guard racy <= TreeSnapshot.maxRacyFiles else { return nil }
            return TreeSnapshot(body: Array(content[bodyStart...]), fileCount: unchanged.fileCount)
        }
    }

    /// A file whose record no longer matches, and where that record lies in the snapshot.
    public struct ChangedFile: Sendable {
        public let path: String
        let record: Range<Int>
    }

    /// At most this many changed files are taken from a check; more, and the push scans.
    static let maxChangedFiles = 256

    private init(body: [UInt8], fileCount: Int) {
        self.body = body
        self.fileCount = fileCount
    }

    /// `CLOCK_REALTIME` in nanoseconds: the clock file timestamps are taken from.
    static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Whether the tree under `root` is still what the snapshot in `stateDirectory` saw, but
    /// for files edited in place (``Matched/changedFiles``): nil when there is no usable
    /// snapshot, or a directory or rule file differs, or too many files do. Needs no lock or
    /// file table, so it can run while the push opens its state and asks the server.
    public static func matchTree(in stateDirectory: String, root: String) -> Matched? {
        let checkStarted = now()
        guard let bytes = try? FileSystem.readAll(stateDirectory + "/" + fileName), bytes.count > 8 else {
            return nil
        }
        let contentCount = bytes.count - 8
        let parsed = bytes.withUnsafeBytes { raw -> (starts: [Int], matched: Matched)? in
            let content = UnsafeRawBufferPointer(rebasing: raw[..<contentCount])
            guard raw.loadUnaligned(fromByteOffset: contentCount, as: UInt64.self).littleEndian == checksum(content)
            else { return nil }
            var reader = ByteReader(content)
            guard let generation = reader.string(), case let bodyStart = reader.offset,
                reader.take(magic.count).elementsEqual(magic),
                let context = reader.string(), reader.fingerprint() == infoExcludeFingerprint(root: root),
                let skippedCount = reader.uint32()
            else { return nil }
            var skipped: [SkippedPath] = []
            for _ in 0..<skippedCount {
                guard let path = reader.string(), let reason = reader.string() else { return nil }
                skipped.append(SkippedPath(path: path, reason: reason))
            }
            // One pass to find where each directory's record starts; the stats come after.
            guard let directoryCount = reader.uint32() else { return nil }
            var starts: [Int] = []
            starts.reserveCapacity(Int(directoryCount))
            var fileCount = 0
            for _ in 0..<directoryCount {
                starts.append(reader.offset)
                guard reader.skipString(), reader.skipFingerprint(), let rules = reader.uint32() else { return nil }
                for _ in 0..<rules {
                    guard reader.skipString(), reader.skipFingerprint() else { return nil }
                }
                guard let files = reader.uint32() else { return nil }
                for _ in 0..<files {
                    guard reader.skipString(), reader.skipFingerprint() else { return nil }
                }
                fileCount += Int(files)
            }
            guard reader.isAtEnd else { return nil }
            let unchanged = Unchanged(fileCount: fileCount, skipped: skipped)
            return (
                starts,
                Matched(
                    generation: generation, context: context, unchanged: unchanged, changedFiles: [], bytes: [],
                    bodyStart: bodyStart, checkStarted: checkStarted)
            )
        }
        guard var matched = parsed?.matched, let starts = parsed?.starts else { return nil }
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { return nil }
        defer { close(rootFD) }
        guard
            let changed = changedFiles(
                bytes, contentCount: contentCount, directoriesAt: starts, root: root, rootFD: rootFD)
        else { return nil }
        matched.changedFiles = changed
        if !changed.isEmpty { matched.bytes = bytes }  // to patch their records
        return matched
    }

    /// Stats every recorded directory, rule file and file (the directories spread over the
    /// cores, as git spreads its index `lstat`s), then hashes the racy files whose stat matched.
    /// Returns the files that differ; nil at the first directory or rule file that does, or
    /// when too many files do.
    private static func changedFiles(
        _ bytes: [UInt8], contentCount: Int, directoriesAt starts: [Int], root: String, rootFD: Int32
    ) -> [ChangedFile]? {
        let differs = Atomic<Bool>(false)
        let next = Atomic<Int>(0)
        let found = Mutex<(racy: [(file: ChangedFile, sha256: String)], changed: [ChangedFile])>(([], []))
        let chunk = 32
        let workers = min(ContentHasher.cores, max(1, starts.count / chunk))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            bytes.withUnsafeBytes { raw in
                let content = UnsafeRawBufferPointer(rebasing: raw[..<contentCount])
                var racy: [(file: ChangedFile, sha256: String)] = []
                var changed: [ChangedFile] = []
                defer {
                    found.withLock {
                        $0.racy += racy
                        $0.changed += changed
                    }
                }
                while !differs.load(ordering: .relaxed) {
                    let first = next.add(chunk, ordering: .relaxed).oldValue
                    guard first < starts.count else { return }
                    for start in starts[first..<min(first + chunk, starts.count)]
                    where !directoryMatches(content, at: start, rootFD: rootFD, racy: &racy, changed: &changed)
                        || changed.count > maxChangedFiles
                    {
                        differs.store(true, ordering: .relaxed)
                        return
                    }
                }
            }
        }
        guard !differs.load(ordering: .relaxed) else { return nil }
        var (racy, changed) = found.withLock { $0 }
        if !racy.isEmpty {
            let digests = ContentHasher.hash(racy.map { root + "/" + $0.file.path })
            for (file, digest) in zip(racy, digests) where digest != file.sha256 { changed.append(file.file) }
        }
        return changed.count <= maxChangedFiles ? changed : nil
    }

    /// False when the directory, or one of its rule files, differs (or a name cannot be
    /// stat'ed); files that differ are added to `changed`, racy ones to `racy` for hashing.
    private static func directoryMatches(
        _ content: UnsafeRawBufferPointer, at start: Int, rootFD: Int32,
        racy: inout [(file: ChangedFile, sha256: String)], changed: inout [ChangedFile]
    ) -> Bool {
        var reader = ByteReader(content, offset: start)
        guard let path = reader.cString() else { return false }
        let fd = cdeltasys_open_directory_path(rootFD, path)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, reader.fingerprint() == StatFingerprint(info),
            let rules = reader.uint32()
        else { return false }
        for _ in 0..<rules {
            guard let name = reader.cString(), fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0,
                reader.fingerprint() == StatFingerprint(info)
            else { return false }
        }
        guard let files = reader.uint32() else { return false }
        for _ in 0..<files {
            guard let name = reader.cString(), fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return false }
            let recordStart = reader.offset
            guard let (recorded, digest) = reader.fileFingerprint() else { return false }
            let now = StatFingerprint(info)
            guard recorded != now || digest != nil else { continue }
            // The directory is unchanged, so this is the same name; a regular file still, or the
            // directory's mtime would have moved when it was replaced.
            guard now.mode & UInt32(S_IFMT) == UInt32(S_IFREG) else { return false }
            let directory = String(cString: path)
            let file = String(cString: name)
            let changedFile = ChangedFile(
                path: directory == "." ? file : directory + "/" + file, record: recordStart..<reader.offset)
            if recorded != now {
                changed.append(changedFile)
            } else if let digest {
                racy.append((changedFile, digest))
            }
        }
        return true
    }

    /// `.git/info/exclude` is outside the walk (`.git` is never entered) but part of the rules;
    /// followed if a symlink, as the rules read it. Nil when absent.
    static func infoExcludeFingerprint(root: String) -> StatFingerprint? {
        var info = stat()
        guard stat(root + "/.git/info/exclude", &info) == 0 else { return nil }
        return StatFingerprint(info)
    }

    /// FNV-1a, 64-bit, eight bytes at a time folded in as one word (a torn or stale file, not
    /// an adversary, is what it catches).
    static func checksum(_ bytes: some Collection<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let prime: UInt64 = 0x100_0000_01b3
        _ = bytes.withContiguousStorageIfAvailable { buffer in
            let raw = UnsafeRawBufferPointer(buffer)
            var offset = 0
            while offset + 8 <= raw.count {
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* prime
                offset += 8
            }
            while offset < raw.count {
                hash = (hash ^ UInt64(raw[offset])) &* prime
                offset += 1
            }
        }
        return hash
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        checksum(UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count))
    }
}

/// Little-endian integers and length-prefixed, NUL-terminated strings.
private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append(_ other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(string: String) { append(utf8: string.utf8) }

    mutating func append(utf8: some Collection<UInt8>) {
        append(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
        bytes.append(0)
    }

    /// A presence byte (0 absent, 1 present, 2 present and followed by a racy file's digest),
    /// then the five fields.
    mutating func append(fingerprint: StatFingerprint?, digest: String? = nil) {
        guard let fingerprint else {
            append(UInt8(0))
            return
        }
        append(UInt8(digest == nil ? 1 : 2))
        defer { if let digest { append(string: digest) } }
        append(fingerprint.size)
        append(fingerprint.mtimeNanoseconds)
        append(fingerprint.ctimeNanoseconds)
        append(fingerprint.inode)
        append(fingerprint.mode)
    }
}

/// Reads what `ByteWriter` wrote; nil (or false) past the end or on a malformed record.
private struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    static let fingerprintSize = 1 + 8 * 4 + 4

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) -> UnsafeRawBufferPointer {
        guard count >= 0, offset + count <= bytes.count else {
            offset = bytes.count + 1
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard offset + MemoryLayout<T>.size <= bytes.count else { return nil }
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func uint32() -> UInt32? { integer(UInt32.self) }

    mutating func string() -> String? {
        guard let length = uint32(), offset + Int(length) + 1 <= bytes.count, bytes[offset + Int(length)] == 0
        else { return nil }
        defer { offset += Int(length) + 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))]), as: UTF8.self)
    }

    /// The string as a C string pointing into the buffer (it is stored with its NUL).
    mutating func cString() -> UnsafePointer<CChar>? {
        let start = offset + 4
        guard skipString(), let base = bytes.baseAddress else { return nil }
        return (base + start).assumingMemoryBound(to: CChar.self)
    }

    mutating func skipString() -> Bool {
        guard let length = uint32(), offset + Int(length) + 1 <= bytes.count, bytes[offset + Int(length)] == 0
        else { return false }
        offset += Int(length) + 1
        return true
    }

    mutating func skipFingerprint() -> Bool {
        guard offset + Self.fingerprintSize <= bytes.count else { return false }
        let kind = bytes[offset]
        offset += kind == 0 ? 1 : Self.fingerprintSize
        return kind != 2 || skipString()
    }

    /// A fingerprint; nil for an absent one, or past the end (the checksum rules out a malformed file).
    mutating func fingerprint() -> StatFingerprint? {
        guard let present = integer(UInt8.self), present == 1, let fingerprint = fields() else { return nil }
        return fingerprint
    }

    /// A file's fingerprint, with the digest a racy file carries.
    mutating func fileFingerprint() -> (StatFingerprint, String?)? {
        guard let present = integer(UInt8.self), present == 1 || present == 2, let fingerprint = fields() else {
            return nil
        }
        guard present == 2 else { return (fingerprint, nil) }
        guard let digest = string() else { return nil }
        return (fingerprint, digest)
    }

    private mutating func fields() -> StatFingerprint? {
        guard
            let size = integer(Int64.self), let mtime = integer(Int64.self), let ctime = integer(Int64.self),
            let inode = integer(UInt64.self), let mode = integer(UInt32.self)
        else { return nil }
        return StatFingerprint(
            size: size, mtimeNanoseconds: mtime, ctimeNanoseconds: ctime, inode: inode, mode: mode)
    }
}
