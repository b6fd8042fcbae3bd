/// A regular file found by ``TreeScanner``, with the stat fields that tell whether it changed
/// since the last scan without reading it (like git's index: size, mtime, ctime, inode, mode).
public struct ScannedFile: Sendable, Hashable {
    /// Workspace-relative path, `/`-separated, valid for the bundle format.
    public var path: String
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var ctimeNanoseconds: Int64
    public var inode: UInt64
    /// Permission bits of `st_mode` (`0o7777` mask), including the exec bits.
    public var mode: UInt32

    public init(
        path: String, size: Int64, mtimeNanoseconds: Int64, ctimeNanoseconds: Int64, inode: UInt64, mode: UInt32
    ) {
        self.path = path
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.ctimeNanoseconds = ctimeNanoseconds
        self.inode = inode
        self.mode = mode
    }

    /// Whether any owner, group or other exec bit is set.
    public var isExecutable: Bool { mode & 0o111 != 0 }
}
