import DeltaCore
import DeltaTestSupport
import Testing

/// Digests are written as lower-case hex by hand (`Digest.hexString`): known answers (FIPS 180
/// examples), for both algorithms and every nibble.
@Suite struct ContentDigestTests {
    static func digest(_ text: String) -> ContentDigest {
        var hasher = DualHasher()
        Array(text.utf8).withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    @Test func knownAnswers() {
        let empty = Self.digest("")
        #expect(empty.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(empty.sha1 == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(empty.size == 0)
        let abc = Self.digest("abc")
        #expect(abc.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(abc.sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(abc.size == 3)
        var alone = SHA256Hasher()
        Array("abc".utf8).withUnsafeBytes { alone.update($0) }
        #expect(alone.finalize() == abc.sha256)
    }

    /// Without SHA-1 the digest says so (empty), with the same SHA-256; worked out afterwards
    /// from a file, it is the known answer whatever the file's position, over several reads.
    @Test func sha1SkippedAndWorkedOutFromAFile() throws {
        var skipping = DualHasher(sha1: false)
        Array("abc".utf8).withUnsafeBytes { skipping.update($0) }
        let skipped = skipping.finalize()
        #expect(skipped.sha1 == "" && skipped.sha256 == Self.digest("abc").sha256 && skipped.size == 3)

        let directory = try TemporaryDirectory("sha1-file")
        defer { directory.remove() }
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        let file = try RawFile.open(reading: try directory.write("big", big))
        var sink = [UInt8](repeating: 0, count: 4096)
        _ = try sink.withUnsafeMutableBytes { try file.read(into: $0) }  // moved off the start
        let (sha1, size) = try SHA1Hasher.hash(file)
        // FIPS 180's third example: one million 'a'.
        #expect(sha1 == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(size == 1_000_000)
    }

    @Test func aLongerKnownAnswer() {
        let digest = Self.digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        #expect(digest.sha256 == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(digest.sha1 == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(digest.size == 56)
    }
}
