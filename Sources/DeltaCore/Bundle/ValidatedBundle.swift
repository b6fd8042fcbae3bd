#if canImport(Glibc)
    import Glibc
#endif

/// Content of one file, spooled to a temporary file while it was hashed (or, for a bundle's small
/// metadata documents, kept in memory).
public struct SpooledContent: Sendable, Hashable {
    /// The temporary file holding the bytes: a named one in the reader's temporary directory,
    /// or `anonymous.path`; empty when the bytes are in `bytes`.
    public var path: String
    /// The file with no name holding the bytes, when they are in one: it is open while this is
    /// held, and stored by linking it (`BlobStore.adopt`), not by renaming `path`.
    public var anonymous: AnonymousSpool?
    /// The bytes of a metadata document read into memory instead of a file.
    public var bytes: [UInt8]?
    public var digest: ContentDigest
    /// Mode bits from the tar header.
    public var tarMode: UInt32
    /// The permission bits the spool file was created with, when known: the mode its header
    /// asks for (0644 or 0755), so the blob stored from it usually needs no `chmod`.
    public var spoolMode: UInt32?

    /// `digest` with its SHA-1 worked out from the spooled bytes if it was not while they
    /// arrived (`DualHasher`).
    func withSHA1() throws -> SpooledContent {
        guard digest.sha1.isEmpty else { return self }
        var copy = self
        if let bytes {
            var hasher = SHA1Hasher()
            bytes.withUnsafeBytes { hasher.update($0) }
            copy.digest.sha1 = hasher.finalize()
        } else {
            // An anonymous file is read through its descriptor; a named one is opened again.
            let (sha1, size) = try SHA1Hasher.hash(try anonymous?.file ?? RawFile.open(reading: path))
            guard size == digest.size else {
                throw DeltaError(.internalError, "a spooled file of \(digest.size) bytes read back as \(size)")
            }
            copy.digest.sha1 = sha1
        }
        return copy
    }
}

/// An operation whose paths, hashes and content have been checked.
public struct ValidatedOperation: Sendable, Hashable {
    public var operation: BundleOperation
    /// The bytes this operation brings: always for created/updated, optional for moved.
    public var content: SpooledContent?

    /// Whether the resulting file is executable: the op's `mode` wins, else the tar header.
    public var isExecutable: Bool {
        if let mode = operation.mode { return mode & 0o111 != 0 }
        if let content { return content.tarMode & 0o111 != 0 }
        return false
    }
}

/// The bytes of one file entry inside an uncompressed bundle: `size` bytes at `offset`, whose
/// SHA-256 is `sha256`, spooled to `spool` (a named file, or `anonymous`).
public struct BundleContentRange: Sendable, Hashable {
    public var offset: Int64
    public var size: Int64
    public var sha256: String
    public var spool: String
    public var anonymous: AnonymousSpool?
}

/// A bundle that passed every structural check of `BundleReader`. Its content lives in spool
/// files until the caller moves them into a blob store: anonymous ones, closed when the last
/// copy of this is dropped, and named ones (`spooled`, each named `spoolPrefix` + `e<n>`), of
/// which `discard()` removes what is left.
public struct ValidatedBundle: Sendable {
    public var manifest: BundleManifest
    public var operations: [ValidatedOperation]
    /// The start of every spool file's path: the reader's temporary directory, `/spool-`, a UUID
    /// and `-`. No directory of its own: on ext4 one costs an inode to allocate and free.
    public var spoolPrefix: String
    /// Every named spool file the reader created.
    public var spooled: [String]
    /// Bytes produced by decompression.
    public var uncompressedBytes: Int64
    public var entryCount: Int
    /// How the bundle was stored: a `.tar.gz` or an uncompressed tar.
    public var format: BundleFormat
    /// For an uncompressed tar, where each spooled file's bytes sit in it (archive order): the
    /// server stores such a bundle as a `BundleRecipe`, its file bytes named by their blobs.
    public var contentRanges: [BundleContentRange]

    /// Removes the spool files still in place: all but `moved`, those the caller moved into a
    /// blob store.
    public func discard(except moved: Set<String> = []) {
        for path in spooled where !moved.contains(path) { unlink(path) }
    }
}
