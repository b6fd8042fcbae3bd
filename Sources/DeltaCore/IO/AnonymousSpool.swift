import CDeltaSys
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A spool file with no name (`O_TMPFILE`), open until it is dropped: a bundle's file content
/// waits in one between arriving and being stored, and storing it is one `link` into the blob
/// store (`link(as:)`). A named spool file costs a directory entry made in the temporary
/// directory and a rename out of it besides: in a first push of 100,000 files, the server's
/// kernel time for them was nearly twice as much.
///
/// Each one holds a descriptor until it is dropped, so at most `limit` exist at once in the
/// process (half its descriptor limit); past that, and where the filesystem or kernel has no
/// `O_TMPFILE` (or an older kernel has no `/proc` mounted), `make` returns nil and the caller
/// spools to a named file as before. A crash leaves nothing of them behind.
public final class AnonymousSpool: Sendable, Hashable {
    public let file: RawFile
    /// A path that opens the file while it is held (`/proc/self/fd/N`): for reading it back.
    public let path: String

    private init(file: RawFile) {
        self.file = file
        path = "/proc/self/fd/\(file.fd)"
    }

    deinit { Self.state.withLock { $0.held -= 1 } }

    /// A new anonymous file on the filesystem of `directory`, created with `mode` (less the
    /// umask); nil when none can be made (see the type's description). An error only for a
    /// failure a named file would meet too (no space, no permission).
    public static func make(in directory: String, mode: UInt32) throws -> AnonymousSpool? {
        let admitted = state.withLock { state -> Bool in
            guard state.supported, state.held < limit else { return false }
            state.held += 1
            return true
        }
        guard admitted else { return nil }
        let fd = cdeltasys_open_tmpfile(directory, mode_t(mode))
        guard fd >= 0 else {
            let code = errno
            state.withLock { state in
                state.held -= 1
                if Self.unsupported(code) { state.supported = false }
            }
            if Self.unsupported(code) { return nil }
            throw DeltaError.posix("open", directory, errno: code)
        }
        return AnonymousSpool(file: RawFile(adopting: fd, path: directory + "/(anonymous spool)"))
    }

    /// Names the file `target` (never replacing a file there), relative to the directory open on
    /// `directory` when given: true when linked, false when `target` exists, nil when a directory
    /// of `target` is missing.
    public func link(as target: String, in directory: Int32? = nil) throws -> Bool? {
        if cdeltasys_link_fd_at(file.fd, directory ?? AT_FDCWD, target) == 0 { return true }
        let code = errno
        switch code {
        case EEXIST: return false
        case ENOENT: return nil
        default: throw DeltaError.posix("link", target, errno: code)
        }
    }

    /// Whether `link(as:)` tries the descriptor's empty path first (`AT_EMPTY_PATH`, Linux 6.10
    /// and later) rather than only `/proc/self/fd/N`; it turns itself off where the kernel refuses
    /// the empty path. Tests set it to take each way.
    public static var linksByEmptyPath: Bool {
        get { cdeltasys_link_fd_empty_path() != 0 }
        set { cdeltasys_link_fd_set_empty_path(newValue ? 1 : 0) }
    }

    /// How many may be held at once: half the process's descriptor limit, at most 32,768.
    public static let limit: Int = {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 0 }
        return Int(min(limits.rlim_cur / 2, 32_768))
    }()

    private static let state = Mutex<(held: Int, supported: Bool)>(
        (0, access("/proc/self/fd", X_OK) == 0))

    /// Errors that say the filesystem or kernel cannot make an anonymous file at all.
    private static func unsupported(_ code: Int32) -> Bool {
        code == EOPNOTSUPP || code == EISDIR || code == EINVAL
    }

    public static func == (lhs: AnonymousSpool, rhs: AnonymousSpool) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
