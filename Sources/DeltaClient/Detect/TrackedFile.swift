public import DeltaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file as the client last sent it (or will once the outbox drains): its stat fingerprint, the
/// fast path for "unchanged", and its content hash. The detector compares the tree against these;
/// the client state stores them.
public struct TrackedFile: Sendable, Hashable {
    public var path: String
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var ctimeNanoseconds: Int64
    public var inode: UInt64
    public var mode: UInt32
    public var sha256: String

    public init(
        path: String, size: Int64, mtimeNanoseconds: Int64, ctimeNanoseconds: Int64, inode: UInt64, mode: UInt32,
        sha256: String
    ) {
        self.path = path
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.ctimeNanoseconds = ctimeNanoseconds
        self.inode = inode
        self.mode = mode
        self.sha256 = sha256
    }
}

extension TrackedFile {
    /// The stat fingerprint the file was tracked with (a regular file).
    public var fingerprint: StatFingerprint {
        StatFingerprint(
            size: size, mtimeNanoseconds: mtimeNanoseconds, ctimeNanoseconds: ctimeNanoseconds, inode: inode,
            mode: UInt32(S_IFREG) | mode)
    }
}
