import DeltaCore
import Logging

/// The server-sync step: learns the server's sequence, kind and limits, and brings the local
/// state in line with it when they disagree — by replaying retained bundles to a server restored
/// from a backup, by reconciling with our server's manifest, or, against a compatible-core
/// server (no manifest), by re-sending what is unacknowledged as one idempotent forced bundle.
struct ServerSync: Sendable {
    let configuration: PushConfiguration
    let state: ClientState
    let logger: Logger
    let api: DeltaAPI
    let retrying: @Sendable (@Sendable () async throws -> StatusResponse) async throws -> StatusResponse
    let fetchManifest: @Sendable () async throws -> ManifestResponse
    let upload: @Sendable (ClientState.OutboxEntry, Int64) async throws -> DeltaAPI.UploadOutcome

    /// What `prepare` learned.
    struct Prepared: Sendable {
        var status: StatusResponse
        var kind: ServerKind
        var resynced: Bool
    }

    /// Asks the server for its state; reconciles when the local state is missing, belongs
    /// elsewhere, or disagrees with nothing pending to explain it.
    func prepare() async throws -> Prepared {
        let status = try await retrying { try await api.status(configuration.workspace) }
        var kind: ServerKind = status.serverInfo.isDeltaSync ? .deltasync : .compatibleCore
        // A compatible-core server names no workspace key: it knows the workspace by its path.
        let key =
            [status.workspace, status.workspacePath ?? "", status.collectionName].first { !$0.isEmpty }
            ?? configuration.root
        let before = try state.syncState()
        var resync = before.needsResync
        if let known = before.workspaceKey, known != key {
            logger.warning("state belongs to another workspace; reconciling", metadata: ["workspace.old": "\(known)"])
            resync = true
        }
        let record = try state.updateSyncState {
            $0.workspaceKey = key
            $0.serverURL = configuration.serverURL
            $0.serverKind = kind
            $0.needsResync = resync
        }
        let acked = record.ackedSequence
        if !resync, try state.pending().isEmpty, status.lastSequence != acked {
            // Behind us (restored from a backup): replay what it lost if we still hold it all.
            var replayed = false
            if status.lastSequence < acked {
                replayed = try await replayRetained(from: status.lastSequence + 1, upTo: acked)
            }
            if replayed {
            } else if kind == .compatibleCore, status.lastSequence > acked, before.workspaceKey != nil {
                // Another writer moved it on. Without a manifest its changes cannot be seen: adopt
                // the sequence and say so.
                let warning =
                    "the server moved from sequence \(acked) to \(status.lastSequence) without this client; "
                    + "another writer's changes are invisible against a compatible-core server"
                logger.warning("\(warning)")
                try state.updateSyncState {
                    $0.ackedSequence = status.lastSequence
                    $0.warning = warning
                }
            } else {
                resync = true
            }
        }
        if resync {
            if kind == .deltasync, try await !resynchronise() { kind = .compatibleCore }
            if kind == .compatibleCore { try rebuildForCompatibleCore(serverSequence: status.lastSequence) }
        }
        return Prepared(status: status, kind: kind, resynced: resync)
    }

    /// A sequence mismatch on upload: the server expects `expected`, we acknowledged `acked`.
    /// Leaves the state so that the next `prepare` + drain converges.
    func resolveMismatch(
        expected: Int64, acked: Int64, kind: ServerKind, outbox: Outbox, info: ServerInfo,
        current: ([String]) -> (changes: ChangeSet, missing: [String])
    ) async throws {
        if try await replayRetained(from: expected, upTo: acked) { return }
        if kind == .compatibleCore, expected > acked,
            try outbox.replacePendingForRecovery(current: current, info: info, expected: expected)
        {
            return
        }
        logger.notice(
            "server sequence differs; reconciling",
            metadata: ["sequence.expected": "\(expected)", "sequence.acked": "\(acked)", "server.kind": "\(kind)"])
        try state.updateSyncState { $0.needsResync = true }
    }

    /// Replaces the local idea of the server's tree with its manifest (keeping stat fingerprints
    /// where the content matches, so unchanged files are not read again). False when the server
    /// has no manifest (404/405): it is a compatible-core server after all.
    private func resynchronise() async throws -> Bool {
        let manifest: ManifestResponse
        do {
            manifest = try await fetchManifest()
        } catch let error as DeltaError where [404, 405].contains(error.httpStatus ?? 0) {
            logger.notice("the server has no manifest; treating it as a compatible-core server")
            try state.updateSyncState { $0.serverKind = .compatibleCore }
            return false
        }
        let known = try state.files()
        var base: [TrackedFile] = []
        for file in manifest.files where file.contentHash.algorithm == .sha256 {
            if let local = known[file.path], local.sha256 == file.contentHash.hex,
                local.mode & 0o111 == file.mode & 0o111
            {
                base.append(local)
            } else {
                base.append(
                    TrackedFile(
                        path: file.path, size: file.sizeBytes, mtimeNanoseconds: -1, ctimeNanoseconds: -1, inode: 0,
                        mode: file.mode, sha256: file.contentHash.hex
                    )
                )
            }
        }
        try state.reset(keepingFiles: false)
        try state.replaceFiles(base)
        try state.updateSyncState {
            $0.ackedSequence = manifest.sequence
            $0.needsResync = false
            $0.warning = nil
        }
        logger.info(
            "reconciled with the server's manifest",
            metadata: ["sequence": "\(manifest.sequence)", "files": "\(base.count)"])
        return true
    }

    /// No manifest to compare with: forget the file table so every file goes up again, with
    /// `force=true`, on top of the server's sequence. Files only on the server stay there.
    private func rebuildForCompatibleCore(serverSequence: Int64) throws {
        let warning =
            "the client state was rebuilt against a compatible-core server (sequence \(serverSequence)): every file "
            + "is uploaded again, and files that exist only on the server stay there"
        logger.warning("\(warning)")
        try state.reset(keepingFiles: false)
        try state.updateSyncState {
            $0.ackedSequence = serverSequence
            $0.needsResync = false
            $0.forceNextBundles = true
            $0.warning = warning
        }
    }

    /// A server restored from an old backup asks for an earlier sequence: send it the acknowledged
    /// bundles it lost, if they are all still kept.
    private func replayRetained(from expected: Int64, upTo acked: Int64) async throws -> Bool {
        guard expected <= acked else { return false }
        let retained = try state.retained().filter { ($0.ackedSequence ?? 0) >= expected }
        guard retained.map({ $0.ackedSequence ?? 0 }) == Array(expected...acked), retained.allSatisfy(state.isIntact)
        else { return false }
        logger.notice(
            "replaying bundles the server lost", metadata: ["sequence.from": "\(expected)", "sequence.to": "\(acked)"])
        for entry in retained {
            do {
                guard case .applied = try await upload(entry, entry.ackedSequence ?? 0) else { return false }
            } catch let error as DeltaError where error.code == .changedWhileBundling {
                // A kept source list whose files changed since cannot be replayed.
                return false
            }
        }
        return true
    }
}
