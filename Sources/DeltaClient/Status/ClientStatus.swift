import DeltaCore
import Foundation

/// What `deltasync status` reports. `idle` is the quiescence barrier tests and scripts wait on:
/// nothing pending and the acknowledged sequence equal to the server's.
public struct ClientStatus: Sendable, Codable {
    public var workspace: String?
    public var server: String
    public var ackedSequence: Int64
    public var serverSequence: Int64?
    public var serverError: String?
    public var pendingBundles: Int
    public var pendingBytes: Int64
    public var lastError: String?
    public var lastPushAt: String?
    public var idle: Bool
    /// Whether a running `deltasync watch` answered (live state), and its phase.
    public var watching: Bool?
    public var phase: String?
    public var queuedEvents: Int?
    /// `deltasync` or `compatible-core` (the existing upload service: no manifest, another
    /// writer's changes are invisible).
    public var serverKind: ServerKind?
    /// What the user should know about the last reconciliation.
    public var warning: String?
    /// In a `pull` replica: local edits kept aside as conflict copies that are still there.
    public var conflicts: [PullConflict] = []

    enum CodingKeys: String, CodingKey {
        case workspace, server, idle, watching, phase
        case queuedEvents = "queued_events"
        case ackedSequence = "acked_sequence"
        case serverSequence = "server_sequence"
        case serverError = "server_error"
        case pendingBundles = "pending_bundles"
        case pendingBytes = "pending_bytes"
        case lastError = "last_error"
        case lastPushAt = "last_push_at"
        case serverKind = "server_kind"
        case warning, conflicts
    }

    /// Reads the local state (without creating it) and asks the server for its sequence.
    public static func read(
        root: String, stateDirectory: String, serverURL: String, workspaceName: String?, token: String?
    ) async throws -> ClientStatus {
        var status = ClientStatus(
            workspace: nil, server: serverURL, ackedSequence: 0, serverSequence: nil, serverError: nil,
            pendingBundles: 0,
            pendingBytes: 0, lastError: nil, lastPushAt: nil, idle: false
        )
        // A running watcher answers with its live state after a quiescence barrier.
        if let data = ControlChannel.ask(stateDirectory + "/watch.sock"),
            let live = try? JSONDecoder().decode(ClientStatus.self, from: data)
        {
            return live
        }
        if FileSystem.exists(stateDirectory + "/state.sqlite") {
            let state = try ClientState(directory: stateDirectory)
            let record = try state.syncState()
            status.workspace = record.workspaceKey
            status.ackedSequence = record.ackedSequence
            let pending = try state.pending()
            status.pendingBundles = pending.count
            status.pendingBytes = pending.reduce(0) { $0 + $1.size }
            status.lastError = record.lastError
            status.lastPushAt = state.lastPushAt(record)
            status.serverKind = record.serverKind
            status.warning = record.warning
            status.conflicts = try state.openConflicts(root: root)
        }
        do {
            let api = DeltaAPI(baseURL: serverURL, token: token, timeout: .seconds(10))
            // A couple of quick retries ride over a passing network error; a server that is down
            // is still reported within a second.
            let workspace = WorkspaceReference(name: workspaceName, path: root)
            let remote = try await RetryPolicy(
                maxRetries: 2, baseDelay: .milliseconds(100), maxDelay: .milliseconds(400)
            )
            .run { try await api.status(workspace) }
            status.serverSequence = remote.lastSequence
            status.workspace = status.workspace ?? (remote.workspace.isEmpty ? nil : remote.workspace)
            status.serverKind = remote.serverInfo.isDeltaSync ? .deltasync : .compatibleCore
        } catch let error as DeltaError {
            status.serverError = error.message
        }
        status.idle = status.pendingBundles == 0 && status.serverSequence == status.ackedSequence
        return status
    }
}
