import DeltaCore
import DeltaTestSupport
import Testing

@testable import DeltaClient

/// Bundles are cut at `BundlePlanner.targetBytes` of content even when the server takes more,
/// and never above what the server takes.
@Suite struct BundlePlannerTests {
    static func created(_ count: Int, size: Int64) -> ChangeSet {
        var changes = ChangeSet()
        for index in 0..<count {
            let state = TrackedFile(
                path: "f\(index).bin", size: size, mtimeNanoseconds: 0, ctimeNanoseconds: 0, inode: 0, mode: 0o100644,
                sha256: String(repeating: "a", count: 64))
            changes.changes.append(ChangeDetector.change(.created, state))
        }
        return changes
    }

    @Test func aLargeFirstPushIsCutIntoBundlesOfAtMostTheTarget() {
        // The server takes 100 MiB bundles; 40 files of 1 MiB still go in bundles of 16 MiB.
        let info = ServerInfo(version: "test", limits: BundleLimits())
        #expect(info.maxBundleSizeMB == 100)
        let bundles = BundlePlanner(root: "/w", info: info).plan(Self.created(40, size: 1 << 20))
        #expect(bundles.count == 3)
        #expect(bundles.allSatisfy { $0.contentBytes <= BundlePlanner.targetBytes })
        #expect(bundles.map(\.entries.count).reduce(0, +) == 40)
        #expect(BundlePlanner.targetBytes == 16 << 20)
    }

    @Test func aServerWithASmallerLimitGetsSmallerBundles() {
        var limits = BundleLimits()
        limits.maxCompressedBytes = 4 << 20
        let bundles = BundlePlanner(root: "/w", info: ServerInfo(version: "test", limits: limits))
            .plan(Self.created(12, size: 1 << 20))
        #expect(bundles.count == 6)
        #expect(bundles.allSatisfy { $0.contentBytes <= 3 << 20 })
    }

    @Test func aFileLargerThanTheTargetGoesAloneInItsBundle() {
        let info = ServerInfo(version: "test", limits: BundleLimits())
        var changes = Self.created(2, size: 1 << 20)
        changes.changes += Self.created(1, size: 40 << 20).changes.map { change in
            var change = change
            change.operation.path = "big.bin"
            change.state?.path = "big.bin"
            return change
        }
        let bundles = BundlePlanner(root: "/w", info: info).plan(changes)
        #expect(bundles.map(\.entries.count) == [2, 1])
        #expect(bundles.last?.contentBytes == 40 << 20)
    }

    /// A first push queues one run of files at a time as it hashes them (`LocalChanges.Streaming`):
    /// each run must be exactly one bundle of `plan`, or every run would end in a small bundle.
    @Test func runsCutFilesToCreateWherePlanCutsTheirBundles() {
        var random = SplitMix64(seed: 20_261_204)
        for round in 0..<200 {
            var limits = BundleLimits()
            limits.maxCompressedBytes = Int64(1 + round % 5) << 20
            limits.maxEntries = [100_000, 40, 17][round % 3]
            let planner = BundlePlanner(root: "/w", info: ServerInfo(version: "test", limits: limits))
            let count = Int(random.next() % 300)
            let sizes = (0..<count).map { _ -> Int64 in
                // Mostly small files, some near or over a bundle's budget.
                random.next() % 10 == 0 ? Int64(random.next() % (6 << 20)) : Int64(random.next() % 40_000)
            }
            var changes = ChangeSet()
            for (index, size) in sizes.enumerated() {
                var change = Self.created(1, size: size).changes[0]
                change.operation.path = "f\(index)"
                change.state?.path = "f\(index)"
                changes.changes.append(change)
            }
            let runs = planner.runs(contentSizes: sizes)
            #expect(runs.map(\.count) == planner.plan(changes).map(\.entries.count), "round \(round)")
            #expect(runs.first?.lowerBound ?? 0 == 0 && runs.last?.upperBound ?? 0 == count)
            #expect(zip(runs, runs.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        }
    }
}
