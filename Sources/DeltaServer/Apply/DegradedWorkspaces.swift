import Synchronization

/// Workspaces whose materialised copy could not be brought up to date (a failed start-up repair
/// or a failed write after commit). The database stays the truth: such a workspace is served
/// read-only from it (status, manifest, changes, blobs), uploads get `503 WORKSPACE_DEGRADED`,
/// and the server retries the repair in the background and before each upload.
public final class DegradedWorkspaces: Sendable {
    private let reasons = Mutex<[String: String]>([:])

    public init() {}

    func mark(_ workspace: String, reason: String) { reasons.withLock { $0[workspace] = reason } }
    func clear(_ workspace: String) { _ = reasons.withLock { $0.removeValue(forKey: workspace) } }

    /// Why `workspace` is degraded, or `nil` when it is healthy.
    public func reason(_ workspace: String) -> String? { reasons.withLock { $0[workspace] } }

    /// Every degraded workspace with its reason, sorted by key.
    public var all: [(workspace: String, reason: String)] {
        reasons.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}
