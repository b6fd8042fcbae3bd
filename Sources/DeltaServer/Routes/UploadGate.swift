import DeltaCore
import Synchronization

/// Caps the uploads in flight over all workspaces (each may spool up to the uncompressed limit
/// and holds a thread-pool thread while it unpacks). Past the cap an upload is refused at once
/// with `503 SERVER_BUSY` and `Retry-After`, before its body is read.
final class UploadGate: Sendable {
    let capacity: Int
    private let inFlight = Atomic<Int>(0)

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
        defer { inFlight.subtract(1, ordering: .acquiringAndReleasing) }
        return try await body()
    }
}
