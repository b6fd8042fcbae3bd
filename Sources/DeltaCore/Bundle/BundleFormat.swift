/// How a bundle's tar archive is packed. Every server takes `tar.gz`; ours also takes an
/// uncompressed `tar`, which a client sends on loopback, where compressing costs more than it
/// saves. The server tells them apart by their first bytes, never by a name.
public enum BundleFormat: String, Sendable, Hashable, CaseIterable {
    case tarGz = "tar.gz"
    case tar

    /// The formats `deltasync serve` reads, as published in `server_info.supported_formats`.
    public static let served: [String] = [BundleFormat.tarGz.rawValue, BundleFormat.tar.rawValue]

    /// The file name suffix a bundle of this format is stored under.
    public var fileExtension: String { "." + rawValue }

    /// The media type a bundle of this format is sent and served as.
    public var contentType: String {
        switch self {
        case .tarGz: return "application/gzip"
        case .tar: return "application/x-tar"
        }
    }

    /// Offset and value of the POSIX ustar magic (`ustar`, followed by NUL or a space for GNU
    /// tar) in a tar archive's first header.
    static let ustarOffset = 257
    static let ustarMagic: [UInt8] = Array("ustar".utf8)
    /// The zstd frame magic, recognised only to name it in the error.
    static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// The format of a bundle that starts with `prefix` (at least its first 512 bytes, or the
    /// whole bundle when shorter). Throws `NOT_GZIP` for anything else, naming what it is.
    public static func detect(_ prefix: UnsafeRawBufferPointer) throws -> BundleFormat {
        if prefix.isEmpty { throw DeltaError(.notGzip, "bundle is empty") }
        if prefix.count >= 2 && prefix[0] == 0x1F && prefix[1] == 0x8B { return .tarGz }
        if prefix.count >= ustarOffset + ustarMagic.count
            && prefix[ustarOffset..<ustarOffset + ustarMagic.count].elementsEqual(ustarMagic)
        {
            return .tar
        }
        if prefix.count >= 4 && prefix[0..<4].elementsEqual(zstdMagic) {
            throw DeltaError(.notGzip, "bundle is zstd-compressed; this server takes tar.gz or an uncompressed tar")
        }
        throw DeltaError(.notGzip, "bundle is neither gzip-compressed (a .tar.gz) nor an uncompressed ustar archive")
    }

    /// The format of the bundle file at `path`, from its first bytes.
    public static func detect(fileAt path: String) throws -> BundleFormat {
        let file = try RawFile.open(reading: path)
        var prefix = [UInt8](repeating: 0, count: 512)
        let count = try prefix.withUnsafeMutableBytes { raw in try file.read(into: raw) }
        return try prefix.withUnsafeBytes { raw in try detect(UnsafeRawBufferPointer(rebasing: raw[0..<count])) }
    }
}
