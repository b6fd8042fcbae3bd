import DeltaCore
import Synchronization

/// Caps the uploads in flight over all workspaces (each may spool up to the uncompressed limit
/// and holds a thread-pool thread while it unpacks). Past the cap an upload is refused at once
/// with `503 SERVER_BUSY` and `Retry-After`, before its body is read.
final class UploadGate: Sendable {
    let capacity: Int
    private let inFlight = Atomic<Int>(0)
    /// When a slot was last taken or given back (`ContinuousClock` nanoseconds since `origin`).
    private let lastActive = Atomic<Int64>(0)
    private let origin = ContinuousClock.now

    /// Whether an upload is in flight or ended less than `quiet` ago: background work (the code
    /// graph) with a large backlog waits for a pause rather than compete with a push.
    func recentlyActive(quiet: Duration) -> Bool {
        if inFlight.load(ordering: .acquiring) > 0 { return true }
        let last = Duration.nanoseconds(lastActive.load(ordering: .acquiring))
        return lastActive.load(ordering: .acquiring) > 0 && origin.duration(to: .now) - last < quiet
    }

    private func touch() {
        let elapsed = origin.duration(to: .now)
        lastActive.store(
            max(1, elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000),
            ordering: .releasing)
    }

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Runs `body` holding one slot, or throws `SERVER_BUSY` when every slot is taken.
    func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        let (_, taken) = inFlight.add(1, ordering: .acquiringAndReleasing)
        guard taken <= capacity else {
            inFlight.subtract(1, ordering: .acquiringAndReleasing)
            throw UploadRejection(
                error: DeltaError(
                    .serverBusy, "the server is handling \(capacity) uploads already; retry shortly",
                    retryAfter: 1
                ),
                bodyUnread: true
            )
        }
        touch()
        defer {
            touch()
            inFlight.subtract(1, ordering: .acquiringAndReleasing)
        }
        return try await body()
    }
}
