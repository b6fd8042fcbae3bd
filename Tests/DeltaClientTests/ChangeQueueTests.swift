import Synchronization
import Testing

@testable import DeltaClient

/// When `ChangeQueue` releases a batch. The quiet period and maximum delay are an hour, so a
/// batch that is due now can only be due because of the lone-save rule.
@Suite struct ChangeQueueTests {
    static func queue() -> ChangeQueue { ChangeQueue(quietPeriod: .seconds(3600), maxDelay: .seconds(7200)) }

    static func isDueNow(_ queue: ChangeQueue) -> Bool {
        guard let deadline = queue.releaseDeadline else { return false }
        return deadline <= .now
    }

    @Test func aLoneSaveOnAnIdleQueueGoesAtOnce() async throws {
        let queue = Self.queue()
        queue.add(.changed("src/a.c"))  // IN_MODIFY
        #expect(!Self.isDueNow(queue))
        queue.add(.completed("src/a.c"))  // IN_CLOSE_WRITE
        #expect(Self.isDueNow(queue))
        let batch = try #require(await queue.next())
        #expect(batch.paths == ["src/a.c"])
        #expect(queue.releaseDeadline == nil)
        queue.finish(batch)
    }

    /// An editor's save arrives as `IN_MODIFY`, then `IN_CLOSE_WRITE`, often in separate reads:
    /// `next()` is already waiting out the quiet period the first started when the second
    /// comes, and must return then rather than an hour later.
    @Test(.timeLimit(.minutes(5))) func aSaveCompletedWhileNextWaitsGoesAtOnce() async throws {
        let queue = Self.queue()
        queue.add(.changed("src/a.c"))
        let waiting = Task { await queue.next() }
        while !queue.isWaitingForDeadline { try await Task.sleep(for: .milliseconds(1)) }
        queue.add(.completed("src/a.c"))
        let batch = try #require(await waiting.value)
        #expect(batch.paths == ["src/a.c"])
        queue.finish(batch)
    }

    /// A lone save tells whoever waits elsewhere (the detector waiting for the uploader), and
    /// says so until it is taken; a save among other paths does not.
    @Test func aLoneSaveIsAnnounced() {
        let announced = Mutex(0)
        let queue = ChangeQueue(quietPeriod: .seconds(3600), maxDelay: .seconds(7200)) {
            announced.withLock { $0 += 1 }
        }
        queue.add(.changed("a"))
        #expect(!queue.hasLoneSave && announced.withLock { $0 } == 0)
        queue.add(.completed("a"))
        #expect(queue.hasLoneSave && announced.withLock { $0 } == 1)
        queue.finish(queue.take())
        #expect(!queue.hasLoneSave)
        queue.add(.changed("b"))
        queue.add(.completed("c"))
        #expect(!queue.hasLoneSave && announced.withLock { $0 } == 1)
    }

    @Test func whatFollowsASaveCoalesces() async throws {
        let queue = Self.queue()
        queue.add(.completed("a"))
        let first = try #require(await queue.next())
        // While the first batch is handled, later saves wait out the quiet period together.
        queue.add(.completed("b"))
        queue.add(.completed("c"))
        #expect(!Self.isDueNow(queue))
        queue.finish(first)
        #expect(!Self.isDueNow(queue))
        #expect(queue.take().paths == ["b", "c"])
    }

    @Test func aNewFileOrASecondPathWaitsForTheQuietPeriod() {
        let created = Self.queue()
        created.add(.created("new.txt"))
        created.add(.completed("new.txt"))  // its first close may not be its last
        #expect(!Self.isDueNow(created))

        let two = Self.queue()
        two.add(.changed("a"))
        two.add(.completed("b"))
        #expect(!Self.isDueNow(two))

        let directory = Self.queue()
        directory.add(.directoryAppeared("d"))
        directory.add(.completed("d/x"))
        #expect(!Self.isDueNow(directory))
    }

    @Test func aFileCreatedInAnEarlierBatchSavesAtOnce() {
        let queue = Self.queue()
        queue.add(.created("new.txt"))
        queue.finish(queue.take())
        queue.add(.completed("new.txt"))
        #expect(Self.isDueNow(queue))
    }
}
