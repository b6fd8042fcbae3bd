import DeltaTestSupport
import Testing

@testable import DeltaGraph

/// The compact sets and fingerprints the graph keeps in place of `Set<Int32>` and `String`.
@Suite struct IDSetTests {
    /// Random inserts and removes, mostly ascending as a build makes them, against `Set`.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func behavesLikeASet(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var model: Set<Int32> = [7]
        var set = IDSet(7)
        var next: Int32 = 8
        for step in 0..<3_000 {
            let roll = rng.next() % 10
            let id: Int32
            if roll < 5 {
                id = next
                next += Int32(rng.next() % 3)
            } else {
                id = Int32(rng.next() % UInt64(next + 1))
            }
            if roll < 8 {
                set.insert(id)
                model.insert(id)
            } else {
                set.remove(id)
                model.remove(id)
            }
            #expect(set.ids == model.sorted(), "seed \(seed), step \(step)")
            #expect(set.isEmpty == model.isEmpty, "seed \(seed), step \(step)")
        }
    }

    @Test func loneIDsAndEmptiness() {
        var set = IDSet(5)
        set.insert(5)
        #expect(set.ids == [5])
        set.insert(3)
        #expect(set.ids == [3, 5])
        set.remove(5)
        #expect(set.ids == [3])
        set.remove(4)
        #expect(set.ids == [3] && !set.isEmpty)
        set.remove(3)
        #expect(set.isEmpty && set.ids.isEmpty)
        set.insert(9)
        #expect(set.ids == [9])
    }

    /// A copy is a value: changing one never changes the other.
    @Test func copiesAreIndependent() {
        var first = IDSet(1)
        first.insert(2)
        first.insert(3)
        var second = first
        second.insert(4)
        first.remove(2)
        #expect(first.ids == [1, 3])
        #expect(second.ids == [1, 2, 3, 4])
    }

    @Test func fingerprintsRoundTripExactly() {
        let cases = [
            "0123456789abcdef", "0000000000000000", "ffffffffffffffff", "00000000000000a1",
            // Not the extractors' form: kept as written, and never equal to a number.
            "0123456789ABCDEF", "123", "", "0123456789abcdef0", "+123456789abcdef", "0x23456789abcdef",
        ]
        for text in cases {
            #expect(PackedFingerprint(text).text == text)
        }
        #expect(PackedFingerprint("0123456789abcdef") == .value(0x0123_4567_89ab_cdef))
        #expect(PackedFingerprint("0123456789ABCDEF") == .text("0123456789ABCDEF"))
        #expect(PackedFingerprint("00000000000000a1") != PackedFingerprint("00000000000000A1"))
        #expect(PackedFingerprint("+123456789abcdef") == .text("+123456789abcdef"))
    }
}
