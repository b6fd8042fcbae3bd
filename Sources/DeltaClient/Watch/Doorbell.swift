import Synchronization

/// Lets one task sleep until a deadline or until another rings, whichever comes first: the
/// watcher's loops wait this way instead of polling. A ring with nobody waiting is kept for the
/// next wait, so a ring between a caller's check and its wait is never lost.
final class Doorbell: Sendable {
    private struct State {
        var sleeper: Task<Void, Never>?
        var rung = false
    }

    private let state = Mutex(State())

    /// Wakes the waiter now, or the next one at once.
    func ring() {
        state.withLock { state in
            if let sleeper = state.sleeper {
                sleeper.cancel()
            } else {
                state.rung = true
            }
        }
    }

    /// Returns at `deadline`, on a ring, or when the calling task is cancelled.
    func wait(until deadline: ContinuousClock.Instant) async {
        let sleeper = Task<Void, Never> { _ = try? await Task.sleep(until: deadline, clock: .continuous) }
        let rung = state.withLock { state in
            defer { state.rung = false }
            state.sleeper = sleeper
            return state.rung
        }
        if rung { sleeper.cancel() }
        await withTaskCancellationHandler {
            await sleeper.value
        } onCancel: {
            sleeper.cancel()
        }
        state.withLock { $0.sleeper = nil }
    }

    /// Whether a task is waiting now (tests).
    var isWaiting: Bool { state.withLock { $0.sleeper != nil } }
}
