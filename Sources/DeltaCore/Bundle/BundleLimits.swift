/// The size limits a bundle must respect. All configurable on the server and published in
/// `server_info`, so clients split their bundles by them.
public struct BundleLimits: Sendable, Hashable, Codable {
    /// Compressed upload size (`MAX_BUNDLE_SIZE_MB`, default 100 MiB).
    public var maxCompressedBytes: Int64
    /// Total uncompressed size of all entries (default 1 GiB). This absolute cap stops bombs.
    public var maxUncompressedBytes: Int64
    /// One file (default 256 MiB).
    public var maxFileBytes: Int64
    /// Tar entries of any kind (default 100,000).
    public var maxEntries: Int

    public init(
        maxCompressedBytes: Int64 = 100 << 20, maxUncompressedBytes: Int64 = 1 << 30, maxFileBytes: Int64 = 256 << 20,
        maxEntries: Int = 100_000
    ) {
        self.maxCompressedBytes = maxCompressedBytes
        self.maxUncompressedBytes = maxUncompressedBytes
        self.maxFileBytes = maxFileBytes
        self.maxEntries = maxEntries
    }
}
