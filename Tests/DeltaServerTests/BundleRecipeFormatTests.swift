import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaCore
@testable import DeltaServer

/// The recipe file itself: runs of zeros are kept as `zeros` records, whatever the cuts between
/// the literals handed to the builder, every bundle byte comes back in order, a recipe written
/// before zero records is still read, and a damaged one is refused, never served as the bundle.
@Suite struct BundleRecipeFormatTests {
    /// What the builder is handed: literal bytes in cuts, or a blob's bytes.
    enum Piece {
        case literal([UInt8])
        case blob([UInt8])
    }

    /// Builds a recipe of `pieces` in `directory`, reads it back whole, and returns the bundle
    /// bytes read and the recipe's bytes.
    static func roundTrip(_ pieces: [Piece], in directory: String) throws -> (bundle: [UInt8], recipe: [UInt8]) {
        let blobs = try BlobStore(root: directory + "/blobs")
        let path = directory + "/r-\(UUID().uuidString).recipe"
        let builder = try BundleRecipe.Builder(path: path)
        for piece in pieces {
            switch piece {
            case .literal(let bytes):
                try bytes.withUnsafeBytes { try builder.literal($0) }
            case .blob(let bytes):
                let sha256 = TestBundle.sha256(bytes).hex
                try FileSystem.createDirectory(directory + "/blobs/" + sha256.prefix(2))
                try FileSystem.writeAtomically(blobs.path(for: sha256), bytes, sync: false)
                try builder.content(
                    BundleContentRange(
                        offset: 0, size: Int64(bytes.count), sha256: sha256, spool: "", anonymous: nil))
            }
        }
        try builder.finish()
        return (try read(path, blobs), try FileSystem.readAll(path))
    }

    static func read(_ path: String, _ blobs: BlobStore) throws -> [UInt8] {
        let reader = try BundleRecipe.Reader(path: path, blobs: blobs)
        var bytes: [UInt8] = []
        while let chunk = try reader.nextChunk() { bytes += chunk }
        return bytes
    }

    static func expected(_ pieces: [Piece]) -> [UInt8] {
        pieces.flatMap { piece -> [UInt8] in
            switch piece {
            case .literal(let bytes), .blob(let bytes): bytes
            }
        }
    }

    /// Where two byte arrays first differ (their length when one is a prefix of the other), nil
    /// when they are equal: a failure names a position, not two arrays of megabytes.
    static func firstDifference(_ read: [UInt8], _ expected: [UInt8]) -> Int? {
        if let index = (0..<min(read.count, expected.count)).first(where: { read[$0] != expected[$0] }) { return index }
        return read.count == expected.count ? nil : min(read.count, expected.count)
    }

    /// Records of a recipe: (tag, length), payloads skipped.
    static func records(_ recipe: [UInt8]) -> [(UInt8, Int)] {
        var records: [(UInt8, Int)] = []
        var index = BundleRecipe.magic.count
        while index < recipe.count {
            let tag = recipe[index]
            let length = recipe[(index + 1)..<(index + 9)].reduce(0) { ($0 << 8) | Int($1) }
            records.append((tag, length))
            index += 9 + (tag == BundleRecipe.literal ? length : tag == BundleRecipe.blob ? 64 : 0)
        }
        return records
    }

    @Test func runsOfZerosAreKeptAsTheirLength() async throws {
        try await withTemporaryDirectory("recipe-zeros") { directory in
            let header = Array("name.txt".utf8) + [UInt8](repeating: 0, count: 92) + Array("0000644".utf8)
            let short = [UInt8(1)] + [UInt8](repeating: 0, count: BundleRecipe.zeroRunMinimum - 1) + [2]
            let pieces: [Piece] = [.literal(header), .literal(short), .literal([UInt8](repeating: 0, count: 1024))]
            let (bundle, recipe) = try Self.roundTrip(pieces, in: directory.path)
            #expect(Self.firstDifference(bundle, Self.expected(pieces)) == nil)
            // The 92 zeros of the name field, and the 1,024 at the end (one run across the cut),
            // are zero records; the run one short of the minimum stays in its literal.
            let records = Self.records(recipe)
            #expect(
                records.map(\.0) == [
                    BundleRecipe.literal, BundleRecipe.zeros, BundleRecipe.literal, BundleRecipe.zeros,
                ])
            #expect(records.map(\.1) == [8, 92, 7 + short.count, 1024])
            #expect(recipe.count < BundleRecipe.magic.count + 4 * 9 + 8 + 7 + short.count + 1)
        }
    }

    /// Random bundles dense with zero runs about the minimum's length, blobs between, literals
    /// cut at random points: the bytes read back are the bytes given.
    @Test func everyCutAndRunLengthReadsBackTheSameBytes() async throws {
        try await withTemporaryDirectory("recipe-random") { directory in
            var random = SplitMix64(seed: 2026)
            for round in 0..<30 {
                var pieces: [Piece] = []
                for _ in 0..<random.below(60) {
                    if random.chance(20) {
                        pieces.append(.blob((0..<random.below(700)).map { _ in UInt8(random.below(256)) }))
                        continue
                    }
                    var bytes: [UInt8] = []
                    for _ in 0..<random.below(8) {
                        let zeros = random.pick([0, 1, 7, 8, 9, 31, 32, 33, 40, 64, 511, 512, 3000])
                        bytes += [UInt8](repeating: 0, count: zeros)
                        bytes += (0..<random.below(20)).map { _ in UInt8(1 + random.below(255)) }
                    }
                    // Longer than the reader's chunk, in the first round.
                    if round == 0 && pieces.isEmpty { bytes += [UInt8](repeating: 0, count: (1 << 20) + 5) }
                    pieces.append(.literal(bytes))
                }
                let (bundle, _) = try Self.roundTrip(pieces, in: directory.path)
                #expect(Self.firstDifference(bundle, Self.expected(pieces)) == nil)
            }
        }
    }

    @Test func aRecipeWrittenBeforeZeroRecordsIsStillRead() async throws {
        try await withTemporaryDirectory("recipe-v1") { directory in
            let blobs = try BlobStore(root: directory.path + "/blobs")
            func record(_ tag: UInt8, _ payload: [UInt8], length: Int? = nil) -> [UInt8] {
                [tag] + withUnsafeBytes(of: UInt64(length ?? payload.count).bigEndian) { Array($0) } + payload
            }
            let literal = Array("header".utf8) + [UInt8](repeating: 0, count: 500)
            let version1 = directory.path + "/v1.recipe"
            try FileSystem.writeAtomically(
                version1, BundleRecipe.magicVersion1 + record(BundleRecipe.literal, literal), sync: false)
            #expect(Self.firstDifference(try Self.read(version1, blobs), literal) == nil)

            // A zero record is not part of version 1; a length over 2^63 is no length.
            let zerosInVersion1 = directory.path + "/z1.recipe"
            try FileSystem.writeAtomically(
                zerosInVersion1, BundleRecipe.magicVersion1 + record(BundleRecipe.zeros, [], length: 10), sync: false)
            let huge = directory.path + "/huge.recipe"
            try FileSystem.writeAtomically(
                huge, BundleRecipe.magic + [BundleRecipe.zeros] + [UInt8](repeating: 0xFF, count: 8), sync: false)
            for damaged in [zerosInVersion1, huge] {
                #expect(throws: DeltaError.self) { try Self.read(damaged, blobs) }
            }
        }
    }
}
