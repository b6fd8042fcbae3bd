import Testing

@testable import DeltaClient

/// `Doorbell`: a waiter wakes at its deadline or on a ring, and a ring is never lost. The
/// deadlines are an hour off, so a wait that returns can only have been ended by a ring.
///
/// A test waits for its waiter to fall asleep by polling with a short sleep, not with a loop of
/// `Task.yield()`, which keeps one of CI's two pool threads busy. Under the whole suite's load
/// a new task has waited a minute for a thread; the time limit only turns a lost ring into a
/// failure instead of a hung run, so it is generous.
@Suite struct DoorbellTests {
    static var farOff: ContinuousClock.Instant { .now + .seconds(3600) }

    @Test(.timeLimit(.minutes(5))) func aRingWakesTheWaiter() async throws {
        let doorbell = Doorbell()
        let waiting = Task { await doorbell.wait(until: Self.farOff) }
        while !doorbell.isWaiting { try await Task.sleep(for: .milliseconds(1)) }
        doorbell.ring()
        await waiting.value
        #expect(!doorbell.isWaiting)
    }

    @Test(.timeLimit(.minutes(5))) func aRingWithNobodyWaitingEndsTheNextWaitOnly() async throws {
        let doorbell = Doorbell()
        doorbell.ring()
        await doorbell.wait(until: Self.farOff)  // returns at once: the ring was kept
        // The ring was used up: the next wait sleeps until rung again.
        let waiting = Task { await doorbell.wait(until: Self.farOff) }
        while !doorbell.isWaiting { try await Task.sleep(for: .milliseconds(1)) }
        doorbell.ring()
        await waiting.value
    }

    @Test func aWaitEndsAtItsDeadline() async {
        let doorbell = Doorbell()
        let deadline = ContinuousClock.now + .milliseconds(20)
        await doorbell.wait(until: deadline)
        #expect(ContinuousClock.now >= deadline)
    }

    @Test(.timeLimit(.minutes(5))) func cancellingTheWaiterEndsTheWait() async throws {
        let doorbell = Doorbell()
        let waiting = Task { await doorbell.wait(until: Self.farOff) }
        while !doorbell.isWaiting { try await Task.sleep(for: .milliseconds(1)) }
        waiting.cancel()
        await waiting.value
        #expect(!doorbell.isWaiting)
    }
}
