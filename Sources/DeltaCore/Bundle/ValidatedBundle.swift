/// Content of one file, spooled to a temporary file while it was hashed (or, for a bundle's small
/// metadata documents, kept in memory).
public struct SpooledContent: Sendable, Hashable {
    /// The temporary file holding the bytes (inside the reader's spool directory); empty when
    /// the bytes are in `bytes`.
    public var path: String
    /// The bytes of a metadata document read into memory instead of a file.
    public var bytes: [UInt8]?
    public var digest: ContentDigest
    /// Mode bits from the tar header.
    public var tarMode: UInt32
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

/// A bundle that passed every structural check of `BundleReader`. Its content lives in
/// `spoolDirectory` until the caller moves it into a blob store; `discard()` removes what is left.
public struct ValidatedBundle: Sendable {
    public var manifest: BundleManifest
    public var operations: [ValidatedOperation]
    public var spoolDirectory: String
    /// Bytes produced by decompression.
    public var uncompressedBytes: Int64
    public var entryCount: Int

    public func discard() { FileSystem.removeTree(spoolDirectory) }
}
