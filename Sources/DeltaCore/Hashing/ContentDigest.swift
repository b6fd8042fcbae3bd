@preconcurrency public import Crypto
import Foundation

/// Both digests of one piece of content. The server stores blobs by SHA-256 and verifies SHA-1
/// hashes sent by existing clients. SHA-1 is worked out only where a hash may name it (see
/// `DualHasher`): `sha1` is empty when it was not.
public struct ContentDigest: Sendable, Hashable {
    /// Empty when not worked out (a bundle whose metadata names no SHA-1).
    public var sha1: String
    public var sha256: String
    public var size: Int64

    public init(sha1: String, sha256: String, size: Int64) {
        self.sha1 = sha1
        self.sha256 = sha256
        self.size = size
    }

    /// Whether `hash` names this content.
    public func matches(_ hash: ContentHash) -> Bool {
        switch hash.algorithm {
        case .sha1: return hash.hex == sha1
        case .sha256: return hash.hex == sha256
        }
    }

    public var sha256Hash: ContentHash { ContentHash(algorithm: .sha256, hex: sha256) }
}

/// Streaming SHA-256, and SHA-1 when asked for: the files of a bundle whose metadata names no
/// SHA-1 (ours) are not hashed with it (SHA-1 was 4 % of the server's CPU in a first push); their
/// digest's `sha1` is empty, and is worked out from the file if a hash turns out to need it.
public struct DualHasher: Sendable {
    private var sha1: Insecure.SHA1?
    private var sha256 = SHA256()
    private var size: Int64 = 0

    public init(sha1: Bool = true) {
        self.sha1 = sha1 ? Insecure.SHA1() : nil
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha1?.update(bufferPointer: bytes)
        sha256.update(bufferPointer: bytes)
        size += Int64(bytes.count)
    }

    public func finalize() -> ContentDigest {
        ContentDigest(sha1: sha1?.finalize().hexString ?? "", sha256: sha256.finalize().hexString, size: size)
    }
}

/// Streaming SHA-1 alone: a digest's SHA-1 worked out after the fact.
public struct SHA1Hasher: Sendable {
    private var hasher = Insecure.SHA1()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
    public func finalize() -> String { hasher.finalize().hexString }

    /// The SHA-1 of the whole of `file`, read from its start whatever its position (`pread`),
    /// and how many bytes that was.
    public static func hash(_ file: RawFile) throws -> (sha1: String, size: Int64) {
        var hasher = SHA1Hasher()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var size: Int64 = 0
        while true {
            let count = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: size) }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            size += Int64(count)
        }
        return (hasher.finalize(), size)
    }
}

/// Streaming SHA-256 alone (the client hashes with SHA-256 only).
public struct SHA256Hasher: Sendable {
    private var hasher = SHA256()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
    public func finalize() -> String { hasher.finalize().hexString }
}

extension Digest {
    /// Lower-case hexadecimal, written straight into the string's storage (a digest's own
    /// `Sequence` iteration copies it into an array first: two of these per file were about 1 %
    /// of a first push's server CPU).
    public var hexString: String {
        self.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                for (index, byte) in bytes.enumerated() {
                    out[2 * index] = hexDigit(byte >> 4)
                    out[2 * index + 1] = hexDigit(byte & 0xf)
                }
                return bytes.count * 2
            }
        }
    }
}

/// The lower-case hexadecimal digit of a value under 16.
@inline(__always)
private func hexDigit(_ value: UInt8) -> UInt8 {
    value < 10 ? UInt8(ascii: "0") &+ value : UInt8(ascii: "a") &+ value &- 10
}
