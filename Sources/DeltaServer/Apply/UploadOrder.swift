import Synchronization

/// Lets a client keep two uploads to one workspace in flight. The second carries the sequence
/// after the first's and `previous_bundle_id`; while an upload for the same workspace with a
/// lower sequence is still being received or applied, it waits for it before taking the
/// workspace's lock, so the two apply in order whichever finished arriving first. The lowest
/// sequence in flight never waits, so waiting always ends.
final class UploadOrder: Sendable {
    /// One registered upload.
    struct Ticket: Sendable, Hashable {
        var workspace: String
        var sequence: Int64
        var id: Int
    }

    private struct State {
        var nextID = 0
        var inFlight: [String: [Int: Int64]] = [:]
    }

    private let state = Mutex(State())
    /// How often a waiting upload looks again.
    static let poll = Duration.milliseconds(2)

    /// Registers an upload of `workspace` asking for `sequence`, once its form fields are known.
    func enter(workspace: String, sequence: Int64) -> Ticket {
        state.withLock { state in
            state.nextID += 1
            state.inFlight[workspace, default: [:]][state.nextID] = sequence
            return Ticket(workspace: workspace, sequence: sequence, id: state.nextID)
        }
    }

    /// Ends the upload's registration (it was applied, refused or cut off).
    func leave(_ ticket: Ticket) {
        state.withLock { state in
            state.inFlight[ticket.workspace]?[ticket.id] = nil
            if state.inFlight[ticket.workspace]?.isEmpty == true { state.inFlight[ticket.workspace] = nil }
        }
    }

    /// Whether another upload of the same workspace with a lower sequence is in flight.
    func hasEarlier(than ticket: Ticket) -> Bool {
        state.withLock { state in
            state.inFlight[ticket.workspace]?.contains { $0.key != ticket.id && $0.value < ticket.sequence } ?? false
        }
    }

    /// Returns once no upload of the workspace with a lower sequence is in flight.
    func waitForEarlier(_ ticket: Ticket) async throws {
        while hasEarlier(than: ticket) { try await Task.sleep(for: Self.poll) }
    }
}
