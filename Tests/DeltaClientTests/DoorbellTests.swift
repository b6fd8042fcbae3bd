import Testing

@testable import DeltaClient

/// `Doorbell`: a waiter wakes at its deadline or on a ring, and a ring is never lost. The
/// deadlines are an hour off, so a wait that returns can only have been ended by a ring.
@Suite struct DoorbellTests {
    static var farOff: ContinuousClock.Instant { .now + .seconds(3600) }

    @Test(.timeLimit(.minutes(1))) func aRingWakesTheWaiter() async {
        let doorbell = Doorbell()
        let waiting = Task { await doorbell.wait(until: Self.farOff) }
        while !doorbell.isWaiting { await Task.yield() }
        doorbell.ring()
        await waiting.value
        #expect(!doorbell.isWaiting)
    }

    @Test(.timeLimit(.minutes(1))) func aRingWithNobodyWaitingEndsTheNextWaitOnly() async {
        let doorbell = Doorbell()
        doorbell.ring()
        await doorbell.wait(until: Self.farOff)  // returns at once: the ring was kept
        // The ring was used up: the next wait sleeps until rung again.
        let waiting = Task { await doorbell.wait(until: Self.farOff) }
        while !doorbell.isWaiting { await Task.yield() }
        doorbell.ring()
        await waiting.value
    }

    @Test func aWaitEndsAtItsDeadline() async {
        let doorbell = Doorbell()
        let deadline = ContinuousClock.now + .milliseconds(20)
        await doorbell.wait(until: deadline)
        #expect(ContinuousClock.now >= deadline)
    }

    @Test(.timeLimit(.minutes(1))) func cancellingTheWaiterEndsTheWait() async {
        let doorbell = Doorbell()
        let waiting = Task { await doorbell.wait(until: Self.farOff) }
        while !doorbell.isWaiting { await Task.yield() }
        waiting.cancel()
        await waiting.value
        #expect(!doorbell.isWaiting)
    }
}
