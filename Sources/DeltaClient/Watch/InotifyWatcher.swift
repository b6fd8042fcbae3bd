import CDeltaSys
import DeltaCore
import Foundation
public import Logging
import Synchronization

/// Recursive inotify watcher. The inotify descriptor is read on a dedicated thread (poll on it
/// and an eventfd used to stop), never on the cooperative pool.
///
/// New directories are watched as they appear and reported so they are scanned whole (files
/// created before the watch existed are found). Directory renames inside the tree are paired by
/// cookie so their watches keep the right paths, and the renamed directory is walked for any
/// below it still unwatched (renamed before its creation event was handled). `IN_Q_OVERFLOW`
/// and running out of watches (`fs.inotify.max_user_watches`) become a rescan with a warning.
public final class InotifyWatcher: FileWatcher, @unchecked Sendable {
    public let root: String
    let ignore: IgnoreRules
    let logger: Logger
    private let fd: Int32
    private let wakeFD: Int32
    private let registry = Mutex(Registry())
    private let sinkBox = Mutex<(@Sendable (WatchEvent) -> Void)?>(nil)
    private var thread: Thread?
    /// Test hook: while set, kernel events are read and thrown away, as an overflow would lose them.
    let discardingEvents = Atomic<Bool>(false)
    private let processing = Atomic<Int>(0)
    private let rescanTask = Mutex<Task<Void, Never>?>(nil)
    /// Test hook: called with a directory's relative path just before its watch is added (a
    /// test renames it there, as a fast writer can before the watcher's thread gets to it).
    let beforeWatching = Mutex<(@Sendable (String) -> Void)?>(nil)

    struct Registry {
        var paths: [Int32: String] = [:]
        var descriptors: [String: Int32] = [:]
        var pendingMoves: [UInt32: String] = [:]
        var limitReached = false
    }

    static let directoryMask: UInt32 =
        Mask.create | Mask.delete | Mask.modify | Mask.closeWrite | Mask.movedFrom
        | Mask.movedTo | Mask.attrib | Mask.deleteSelf | Mask.moveSelf | Mask.onlyDirectory | Mask.dontFollow
        | Mask.excludeUnlinked

    /// A cap on watches below the kernel's, so the watch-limit path can be exercised in tests
    /// (`fs.inotify.max_user_watches` is system-wide and cannot be lowered per process).
    let watchLimit: Int?

    public init(root: String, ignore: IgnoreRules, logger: Logger, watchLimit: Int? = nil) throws {
        self.root = root
        self.ignore = ignore
        self.logger = logger
        self.watchLimit = watchLimit
        // Stored only once both are open: an init that throws with every property set runs
        // `deinit`, which would close a descriptor closed here already (and by then perhaps
        // another thread's).
        let fd = cdeltasys_inotify_init()
        guard fd >= 0 else { throw DeltaError.posix("inotify_init1", root) }
        let wakeFD = cdeltasys_eventfd()
        guard wakeFD >= 0 else {
            close(fd)
            throw DeltaError.posix("eventfd", root)
        }
        self.fd = fd
        self.wakeFD = wakeFD
    }

    deinit {
        close(fd)
        close(wakeFD)
    }

    public func start(sink: @escaping @Sendable (WatchEvent) -> Void) throws {
        sinkBox.withLock { $0 = sink }
        addWatches(under: "")
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "deltasync-inotify"
        thread.start()
        self.thread = thread
    }

    public func stop() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        rescanTask.withLock { $0?.cancel() }
    }

    /// Out of watches: some directories are unwatched, so rescan them periodically.
    private func startDegradedRescans() {
        rescanTask.withLock { task in
            guard task == nil else { return }
            task = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(2))
                    self?.emit(.rescan(reason: "inotify watch limit (fs.inotify.max_user_watches) reached"))
                }
            }
        }
    }

    public var hasUnreadEvents: Bool { cdeltasys_pending_bytes(fd) > 0 || processing.load(ordering: .acquiring) > 0 }

    /// Test hook: lose (or stop losing) events, as a queue overflow does.
    public func discardEvents(_ discard: Bool) { discardingEvents.store(discard, ordering: .relaxed) }

    /// Number of directories watched.
    public var watchCount: Int { registry.withLock { $0.paths.count } }

    /// Feeds a synthetic event through the same handling as kernel events (tests use it to force
    /// `IN_Q_OVERFLOW`, which cannot be provoked per process).
    public func inject(mask: UInt32, name: String = "", directory: String = "") {
        let wd = registry.withLock { $0.descriptors[directory] } ?? -1
        handle(wd: wd, mask: mask, cookie: 0, name: name)
    }

    // MARK: - Watches

    /// Watches `relative` and every non-ignored directory below it.
    private func addWatches(under relative: String) {
        var stack = [relative]
        while let directory = stack.popLast() {
            guard addWatch(directory) else { continue }
            let full = directory.isEmpty ? root : root + "/" + directory
            guard let handle = opendir(full) else { continue }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = FileSystem.direntName(entry)
                if name == "." || name == ".." { continue }
                let child = directory.isEmpty ? name : directory + "/" + name
                var isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
                if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                    var info = stat()
                    isDirectory = lstat(full + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
                }
                if isDirectory && !ignore.isIgnoredEntry(child, isDirectory: true) { stack.append(child) }
            }
        }
    }

    private func addWatch(_ relative: String) -> Bool {
        let full = relative.isEmpty ? root : root + "/" + relative
        var wd: Int32
        if let watchLimit, watchCount >= watchLimit, registry.withLock({ $0.descriptors[relative] == nil }) {
            wd = -1
            errno = ENOSPC
        } else {
            beforeWatching.withLock { $0 }?(relative)
            wd = cdeltasys_inotify_add_watch(fd, full, Self.directoryMask)
        }
        if wd < 0 {
            if errno == ENOSPC {
                let first = registry.withLock { registry in
                    defer { registry.limitReached = true }
                    return !registry.limitReached
                }
                if first {
                    logger.warning(
                        "inotify watch limit reached; changes in unwatched directories are found by periodic rescans. Raise it: sysctl fs.inotify.max_user_watches=524288",
                        metadata: [
                            "fs.inotify.max_user_watches": "\(Self.sysctl("max_user_watches"))",
                            "watches": "\(watchCount)",
                        ]
                    )
                    startDegradedRescans()
                }
                emit(.rescan(reason: "inotify watch limit (fs.inotify.max_user_watches) reached"))
            }
            return false
        }
        registry.withLock { registry in
            if let old = registry.paths[wd], old != relative { registry.descriptors.removeValue(forKey: old) }
            registry.paths[wd] = relative
            registry.descriptors[relative] = wd
        }
        return true
    }

    /// Forgets watches at or below `relative` (a directory deleted or moved out).
    private func forget(under relative: String) {
        registry.withLock { registry in
            for (path, wd) in registry.descriptors where path == relative || PathRules.isAncestor(relative, of: path) {
                registry.descriptors.removeValue(forKey: path)
                registry.paths.removeValue(forKey: wd)
            }
        }
    }

    /// A directory renamed inside the tree keeps its watches: rewrite their paths.
    private func rename(from old: String, to new: String) {
        registry.withLock { registry in
            for (path, wd) in registry.descriptors where path == old || PathRules.isAncestor(old, of: path) {
                let moved = new + path.dropFirst(old.count)
                registry.descriptors.removeValue(forKey: path)
                registry.descriptors[moved] = wd
                registry.paths[wd] = moved
            }
        }
    }

    // MARK: - Reading

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var descriptors = [
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("poll on inotify failed", metadata: ["errno": "\(errno)"])
                return
            }
            if descriptors[1].revents != 0 { return }
            processing.wrappingAdd(1, ordering: .acquiring)
            defer { processing.wrappingSubtract(1, ordering: .releasing) }
            let count = buffer.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress, raw.count) }
            if count <= 0 || discardingEvents.load(ordering: .relaxed) { continue }
            var offset = 0
            while offset + 16 <= count {
                let (wd, mask, cookie, length) = buffer.withUnsafeBytes { raw in
                    (
                        raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                        raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                        raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
                        Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    )
                }
                let nameBytes = buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }
                handle(wd: wd, mask: mask, cookie: cookie, name: String(decoding: nameBytes, as: UTF8.self))
                offset += 16 + length
            }
            // A directory moved out of the tree has no MOVED_TO: drop its watches.
            let departed = registry.withLock { registry in
                defer { registry.pendingMoves.removeAll() }
                return Array(registry.pendingMoves.values)
            }
            for path in departed { forget(under: path) }
        }
    }

    private func handle(wd: Int32, mask: UInt32, cookie: UInt32, name: String) {
        if mask & Mask.queueOverflow != 0 {
            logger.warning(
                "inotify queue overflowed; rescanning. Raise fs.inotify.max_queued_events if this repeats",
                metadata: ["fs.inotify.max_queued_events": "\(Self.sysctl("max_queued_events"))"]
            )
            emit(.rescan(reason: "inotify queue overflow (fs.inotify.max_queued_events)"))
            return
        }
        guard let directory = registry.withLock({ $0.paths[wd] }) else { return }
        if mask & Mask.ignored != 0 {
            registry.withLock { registry in
                if let path = registry.paths.removeValue(forKey: wd), registry.descriptors[path] == wd {
                    registry.descriptors.removeValue(forKey: path)
                }
            }
            return
        }
        if mask & (Mask.deleteSelf | Mask.moveSelf) != 0 || name.isEmpty { return }
        let path = directory.isEmpty ? name : directory + "/" + name
        let isDirectory = mask & Mask.isDirectory != 0
        if isDirectory && ignore.isIgnored(path, isDirectory: true) { return }
        if isDirectory {
            if mask & Mask.movedFrom != 0 {
                registry.withLock { $0.pendingMoves[cookie] = path }
                // If no MOVED_TO follows in this read, the directory left the tree.
            } else if mask & Mask.movedTo != 0 {
                if let old = registry.withLock({ $0.pendingMoves.removeValue(forKey: cookie) }) {
                    rename(from: old, to: path)
                    // Watches move with their directories, but a directory renamed before this
                    // thread got to its creation (or a parent's) never had one: adding it had
                    // failed under the old name, and changes below it went unseen. Watch what
                    // has no watch yet; the rest keep theirs (same descriptor).
                    addWatches(under: path)
                    emit(.changed(old))
                    emit(.directoryAppeared(path))
                    return
                }
                addWatches(under: path)
                emit(.directoryAppeared(path))
                return
            } else if mask & Mask.create != 0 {
                addWatches(under: path)
                emit(.directoryAppeared(path))
                return
            } else if mask & Mask.delete != 0 {
                forget(under: path)
            }
        }
        if !isDirectory && mask & Mask.create != 0 {
            emit(.created(path))
        } else if !isDirectory && mask & (Mask.closeWrite | Mask.movedTo) != 0 {
            emit(.completed(path))
        } else {
            emit(.changed(path))
        }
    }

    private func emit(_ event: WatchEvent) {
        sinkBox.withLock { $0 }?(event)
    }

    static func sysctl(_ name: String) -> String {
        (try? String(contentsOfFile: "/proc/sys/fs/inotify/" + name, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    }

    /// inotify event bits (stable Linux ABI).
    public enum Mask {
        public static let modify: UInt32 = 0x2
        public static let attrib: UInt32 = 0x4
        public static let closeWrite: UInt32 = 0x8
        public static let movedFrom: UInt32 = 0x40
        public static let movedTo: UInt32 = 0x80
        public static let create: UInt32 = 0x100
        public static let delete: UInt32 = 0x200
        public static let deleteSelf: UInt32 = 0x400
        public static let moveSelf: UInt32 = 0x800
        public static let queueOverflow: UInt32 = 0x4000
        public static let ignored: UInt32 = 0x8000
        public static let onlyDirectory: UInt32 = 0x0100_0000
        public static let dontFollow: UInt32 = 0x0200_0000
        public static let excludeUnlinked: UInt32 = 0x0400_0000
        public static let isDirectory: UInt32 = 0x4000_0000
    }
}
