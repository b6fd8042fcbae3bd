import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaServer

/// Adopting spooled files into the blob store and making them durable: a few are each
/// `fsync`ed with their directories, many take one `syncfs` (on a thread of its own, waited for
/// by the commit); a blob already held is not stored twice, and a flush that cannot open what it
/// must sync fails instead of claiming durability.
@Suite struct BlobStoreTests {
    static func spool(_ directory: String, _ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try FileSystem.writeAtomically(path, Array(text.utf8))
        return path
    }

    /// A blob store under `directory` and an empty spool directory beside it.
    static func storeAndSpool(in directory: TemporaryDirectory) throws -> (BlobStore, String) {
        let spool = directory.sub("spool")
        try FileSystem.createDirectory(spool)
        return (try BlobStore(root: directory.sub("store")), spool)
    }

    @Test func newBlobsAreRecordedAndHeldOnesDropped() async throws {
        try await withTemporaryDirectory("blobs") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            let hex = String(repeating: "ab", count: 32)
            var first = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "one", "content"), sha256: hex, mode: 0o755, into: &first)
            #expect(first.blobs == [store.path(for: hex)])
            #expect(first.newDirectories)
            try store.flush(first)
            #expect(try String(contentsOfFile: store.path(for: hex), encoding: .utf8) == "content")

            // The same hash again: the spooled copy is dropped, nothing new to flush, and the blob
            // in place is never replaced (it keeps its bytes and its mode).
            var second = BlobStore.Adopted()
            let again = try Self.spool(spool, "two", "other bytes")
            try store.adopt(again, sha256: hex, mode: 0o644, into: &second)
            #expect(second.blobs.isEmpty && !second.newDirectories)
            #expect(!FileSystem.exists(again))
            try store.flush(second)
            #expect(try String(contentsOfFile: store.path(for: hex), encoding: .utf8) == "content")
            #expect(store.mode(ofBlobAt: store.path(for: hex)) == 0o755)
        }
    }

    /// An anonymous spool file is linked into place with the blob's mode, its directory made for
    /// it; the same hash again leaves the blob in place as it was, and the second file is only
    /// dropped. Nothing is ever named in the spool directory.
    @Test func anAnonymousSpoolFileIsLinkedIntoPlaceAndAHeldBlobIsKept() async throws {
        try await withTemporaryDirectory("anonymous-blobs") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            let hex = String(repeating: "a7", count: 32)
            let first = try #require(try AnonymousSpool.make(in: spool, mode: 0o644))
            try first.file.write(Array("content".utf8))
            var adopted = BlobStore.Adopted()
            #expect(
                try store.adopt(
                    first.path, anonymous: first, sha256: hex, mode: 0o755, spoolMode: 0o644, into: &adopted))
            #expect(adopted.blobs == [store.path(for: hex)] && adopted.newDirectories)
            try store.flush(adopted)
            #expect(try String(contentsOfFile: store.path(for: hex), encoding: .utf8) == "content")
            #expect(store.mode(ofBlobAt: store.path(for: hex)) == 0o755)

            let second = try #require(try AnonymousSpool.make(in: spool, mode: 0o644))
            try second.file.write(Array("other bytes".utf8))
            var again = BlobStore.Adopted()
            #expect(
                !(try store.adopt(
                    second.path, anonymous: second, sha256: hex, mode: 0o644, spoolMode: 0o644, into: &again)))
            #expect(again.blobs.isEmpty && again.borrowed.isEmpty && !again.newDirectories)
            #expect(try String(contentsOfFile: store.path(for: hex), encoding: .utf8) == "content")
            #expect(store.mode(ofBlobAt: store.path(for: hex)) == 0o755)
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
            #expect(!store.unflushed.isClaimed(store.path(for: hex)))
        }
    }

    /// Linked below the store's root held open (`RootDirectory`): the same blob in the same place,
    /// a missing fan-out directory made for it, and with the root deleted and made again since it
    /// was opened the blob still lands where its path says (the retry goes by the whole path).
    @Test func anAnonymousSpoolFileIsLinkedBelowAnOpenRoot() async throws {
        try await withTemporaryDirectory("rooted-blobs") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            func adopt(_ hex: String, _ text: String, root: BlobStore.RootDirectory) throws -> BlobStore.Adopted {
                let file = try #require(try AnonymousSpool.make(in: spool, mode: 0o644))
                try file.file.write(Array(text.utf8))
                var adopted = BlobStore.Adopted()
                #expect(
                    try store.adopt(
                        file.path, anonymous: file, sha256: hex, mode: 0o644, spoolMode: 0o644, root: root,
                        into: &adopted))
                try store.flush(adopted)
                return adopted
            }
            let root = BlobStore.RootDirectory(store)
            #expect(root.fd >= 0)
            let first = String(repeating: "c3", count: 32)
            let made = try adopt(first, "first", root: root)
            #expect(made.blobs == [store.path(for: first)] && made.newDirectories)
            let second = String(repeating: "c3", count: 31) + "00"
            let beside = try adopt(second, "second", root: root)
            #expect(beside.blobs == [store.path(for: second)] && !beside.newDirectories)

            #expect(try String(contentsOfFile: store.path(for: first), encoding: .utf8) == "first")
            #expect(try String(contentsOfFile: store.path(for: second), encoding: .utf8) == "second")

            // The root deleted and made again: the open one takes no links, the blob still lands.
            FileSystem.removeTree(store.root)
            try FileSystem.createDirectory(store.root)
            let third = String(repeating: "c3", count: 30) + "0000"
            let replaced = try adopt(third, "third", root: root)
            #expect(replaced.blobs == [store.path(for: third)] && replaced.newDirectories)
            #expect(try String(contentsOfFile: store.path(for: third), encoding: .utf8) == "third")
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
        }
    }

    /// The same content from two uploads at once: the second finds the blob the first placed
    /// and has not flushed, and flushes it too (its commit must not run ahead of the first's
    /// flush). Once the first's flush is done, a third finds a durable blob and borrows nothing.
    @Test func aBlobFoundInPlaceBeforeItsFlushIsFlushedByWhoeverFindsIt() async throws {
        try await withTemporaryDirectory("borrowed") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            let hex = String(repeating: "e1", count: 32)
            let blob = store.path(for: hex)
            var first = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "one", "shared"), sha256: hex, mode: 0o644, into: &first)
            #expect(first.blobs == [blob] && first.borrowed.isEmpty)
            #expect(store.unflushed.isClaimed(blob))

            var second = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "two", "shared"), sha256: hex, mode: 0o644, into: &second)
            #expect(second.blobs.isEmpty && second.borrowed == [blob])
            // The second's flush opens the borrowed blob to sync it: with the blob gone, it fails
            // rather than claiming durability for content it never synced.
            let renamed = blob + ".aside"
            #expect(rename(blob, renamed) == 0)
            #expect(throws: DeltaError.self) { try store.flush(second) }
            #expect(rename(renamed, blob) == 0)
            try store.flush(second)
            // Still the first's to flush: a borrower's flush releases nothing.
            #expect(store.unflushed.isClaimed(blob))

            try store.flush(first)
            #expect(!store.unflushed.isClaimed(blob))
            var third = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "three", "shared"), sha256: hex, mode: 0o644, into: &third)
            #expect(third.blobs.isEmpty && third.borrowed.isEmpty)
            #expect(!store.unflushed.isClaimed(blob))
            #expect(try String(contentsOfFile: blob, encoding: .utf8) == "shared")
        }
    }

    /// A flush that fails leaves its blobs claimed: whoever finds one later flushes it.
    @Test func aBlobWhoseFlushFailedIsFlushedByTheNextToFindIt() async throws {
        try await withTemporaryDirectory("borrowed-after-failure") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            let kept = String(repeating: "a2", count: 32)
            let lost = String(repeating: "a3", count: 32)
            var first = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "kept", "kept"), sha256: kept, into: &first)
            try store.adopt(try Self.spool(spool, "lost", "lost"), sha256: lost, into: &first)
            unlink(store.path(for: lost))
            #expect(throws: DeltaError.self) { try store.flush(first) }
            var next = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "again", "kept"), sha256: kept, into: &next)
            #expect(next.borrowed == [store.path(for: kept)])
            try store.flush(next)
        }
    }

    /// Start-up makes a store that holds anything durable (one `syncfs`), and an empty one is
    /// left alone.
    @Test func makeDurableSyncsANonEmptyStoreAndSkipsAnEmptyOne() async throws {
        try await withTemporaryDirectory("durable-at-start") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            try store.makeDurable()
            var adopted = BlobStore.Adopted()
            try store.adopt(
                try Self.spool(spool, "one", "x"), sha256: String(repeating: "b4", count: 32), into: &adopted)
            try store.makeDurable()
            FileSystem.removeTree(store.root)
            #expect(throws: DeltaError.self) { try store.makeDurable() }
        }
    }

    /// A spool file already in the blob's mode is stored as it is; one in another mode (a header
    /// that disagrees with the operation, or a umask that took bits away) is given the mode.
    @Test(arguments: [(0o644, 0o644), (0o755, 0o755), (0o755, 0o644), (0o644, 0o755), (0o600, 0o644)])
    func aBlobTakesItsModeWhateverItsSpoolFileHad(spoolMode: Int, mode: Int) async throws {
        try await withTemporaryDirectory("blob-mode") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            let hex = String(repeating: "cd", count: 32)
            let path = try Self.spool(spool, "one", "content")
            #expect(chmod(path, mode_t(spoolMode)) == 0)
            var adopted = BlobStore.Adopted()
            try store.adopt(path, sha256: hex, mode: UInt32(mode), spoolMode: UInt32(spoolMode), into: &adopted)
            #expect(store.mode(ofBlobAt: store.path(for: hex)) == UInt32(mode))
            #expect(try String(contentsOfFile: store.path(for: hex), encoding: .utf8) == "content")
        }
    }

    @Test(arguments: [1, BlobStore.fsyncLimit, BlobStore.fsyncLimit + 1, 300])
    func fewAndManyBlobsAreFlushed(count: Int) async throws {
        try await withTemporaryDirectory("flush") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            var adopted = BlobStore.Adopted()
            for index in 0..<count {
                let hex = String(format: "%064x", index * 7_919)
                try store.adopt(try Self.spool(spool, "f\(index)", "blob \(index)"), sha256: hex, into: &adopted)
            }
            #expect(adopted.blobs.count == count)
            try store.flush(adopted)
            for (index, path) in adopted.blobs.enumerated() {
                #expect(try String(contentsOfFile: path, encoding: .utf8) == "blob \(index)")
            }
        }
    }

    /// The fan-out directory is made only when the rename finds it missing: a blob goes into a
    /// directory that exists, one that does not, and a store whose root was removed; a spooled
    /// file that is gone fails the adopt and stores nothing.
    @Test func fanOutDirectoriesAreMadeWhenMissing() async throws {
        try await withTemporaryDirectory("fanout") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            let first = String(repeating: "12", count: 32)
            let sibling = "12" + String(repeating: "34", count: 31)
            var adopted = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "one", "first"), sha256: first, into: &adopted)
            #expect(adopted.newDirectories)
            var again = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "two", "sibling"), sha256: sibling, into: &again)
            #expect(!again.newDirectories && again.blobs == [store.path(for: sibling)])
            try store.flush(again)

            FileSystem.removeTree(store.root)
            let third = String(repeating: "56", count: 32)
            var rebuilt = BlobStore.Adopted()
            try store.adopt(try Self.spool(spool, "three", "third"), sha256: third, into: &rebuilt)
            #expect(rebuilt.newDirectories)
            try store.flush(rebuilt)
            #expect(try String(contentsOfFile: store.path(for: third), encoding: .utf8) == "third")

            var missing = BlobStore.Adopted()
            let gone = String(repeating: "78", count: 32)
            #expect(throws: DeltaError.self) {
                try store.adopt(spool + "/never-written", sha256: gone, into: &missing)
            }
            #expect(missing.blobs.isEmpty && !store.contains(gone))
        }
    }

    @Test func aFlushOfABlobThatVanishedFails() async throws {
        try await withTemporaryDirectory("vanished") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            var adopted = BlobStore.Adopted()
            let hex = String(repeating: "cd", count: 32)
            try store.adopt(try Self.spool(spool, "one", "x"), sha256: hex, into: &adopted)
            unlink(store.path(for: hex))
            #expect(throws: DeltaError.self) { try store.flush(adopted) }
        }
    }

    @Test func aPendingFlushReportsItsOutcomeToEveryWait() async throws {
        try await withTemporaryDirectory("pending-flush") { directory in
            let (store, spool) = try Self.storeAndSpool(in: directory)
            var adopted = BlobStore.Adopted()
            for index in 0..<(BlobStore.fsyncLimit + 4) {
                try store.adopt(
                    try Self.spool(spool, "f\(index)", "blob \(index)"), sha256: String(format: "%064x", index + 1),
                    into: &adopted)
            }
            let flushing = store.startFlush(adopted)
            try flushing.wait()
            try flushing.wait()
            #expect(flushing.elapsed != nil)

            // A flush that cannot open a blob fails, and says so to each wait.
            var few = BlobStore.Adopted()
            let hex = String(repeating: "9", count: 64)
            try store.adopt(try Self.spool(spool, "gone", "gone"), sha256: hex, into: &few)
            unlink(store.path(for: hex))
            let failing = store.startFlush(few)
            #expect(throws: DeltaError.self) { try failing.wait() }
            #expect(throws: DeltaError.self) { try failing.wait() }
            #expect(failing.elapsed == nil)
        }
    }
}
