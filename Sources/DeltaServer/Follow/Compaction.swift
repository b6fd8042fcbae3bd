import DeltaCore

/// Change-log retention: keeps the newest `keep` entries of a workspace in full, never
/// compacting past what is materialised. Compacted entries keep their `bundle_id`, sequence and
/// counts (replays are still recognised as duplicates); their operations are dropped, and a
/// follower whose cursor is older gets `410 HISTORY_COMPACTED` and re-bootstraps from the
/// manifest.
struct Compaction: Sendable {
    let storage: any WorkspaceLog

    /// The first sequence kept after compacting `workspace` to `keep` entries.
    @discardableResult
    func compact(workspace: String, keep: Int64) async throws -> (firstRetained: Int64, compacted: Int) {
        guard let record = try await storage.workspace(workspace) else {
            throw DeltaError(.notFound, "workspace '\(workspace)' does not exist")
        }
        let before = min(record.lastSequence - max(keep, 0) + 1, record.materializedSequence + 1)
        guard before > record.firstRetained else { return (record.firstRetained, 0) }
        let compacted = try await storage.compact(workspace: workspace, before: before)
        return (before, compacted.count)
    }
}
