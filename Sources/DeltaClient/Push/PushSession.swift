import DeltaCore
import Foundation
public import Logging
import Synchronization

/// One `deltasync push`: prepare against the server, scan everything, queue bundles, drain.
public final class PushSession: Sendable {
    public let configuration: PushConfiguration
    let logger: Logger
    let progress: @Sendable (PushProgress) -> Void

    public init(
        configuration: PushConfiguration, logger: Logger,
        progress: @escaping @Sendable (PushProgress) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.progress = progress
    }

    /// Runs the push to completion (or throws a `DeltaError` saying what to do).
    public func run() async throws -> PushReport {
        let started = ContinuousClock.now
        if var report = try answerFromWatch() {
            report.durationMilliseconds = Double(started.duration(to: .now).nanoseconds) / 1e6
            return report
        }
        // The stats of a no-change check go on while the state opens and the server answers.
        let stateDirectory = configuration.stateDirectory
        let root = configuration.root
        let snapshotMatch = Task { await offThePool { TreeSnapshot.matchTree(in: stateDirectory, root: root) } }
        let engine = try SyncEngine(configuration: configuration, logger: logger, progress: progress)
        // Released when the push returns, not when the last reference to the engine goes (a task
        // still finishing may hold one, and the next push on this state would be refused).
        defer { engine.releaseLock() }
        var report = PushReport()
        var settled = false
        // A reconciliation or a file that changed under us starts a new round; bounded so it ends.
        for round in 0..<4 {
            let prepared = try await engine.prepare()
            report.workspace = try engine.state.syncState().workspaceKey ?? prepared.status.workspace
            report.serverKind = prepared.kind
            report.resynced = report.resynced || prepared.resynced
            // As git reads its index: one stat per file and per directory, and no directory read.
            // Files edited in place are all that is read; anything else means a full scan.
            var standing: (matched: TreeSnapshot.Matched, found: TreeSnapshot.Unchanged)?
            if round == 0, !prepared.resynced, let matched = await snapshotMatch.value,
                let found = try engine.standing(matched)
            {
                if matched.changedFiles.isEmpty {
                    try engine.reportUnchanged(found, report: &report)
                    report.unchangedSinceSnapshot = true
                    break
                }
                standing = (matched, found)
            }
            // Upload bundle k while bundle k+1 is being written (and, in a first push, hashed).
            let writing = Flag(true)
            let uploader = Task { () async throws -> (Bool, PushReport) in
                var uploaded = PushReport()
                while true {
                    let finished = !writing.value
                    guard try await engine.drain(report: &uploaded) else { return (false, uploaded) }
                    if finished { return (true, uploaded) }
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            var detected = PushReport()
            do {
                if let standing {
                    let changes = try engine.detectChanged(
                        since: standing.matched, found: standing.found, report: &detected)
                    report.changedSinceSnapshot = true
                    try engine.enqueue(changes)
                } else {
                    try engine.detectAndEnqueueAll(report: &detected, snapshot: true)
                    report.changedSinceSnapshot = false
                }
                writing.value = false
            } catch let error as DeltaError where error.code == .changedWhileBundling && round < 3 {
                writing.value = false
                _ = try? await uploader.value
                logger.info("a file changed while bundling; scanning again", metadata: ["reason": "\(error.message)"])
                continue
            } catch {
                uploader.cancel()
                throw error
            }
            report.filesScanned = detected.filesScanned
            report.filesHashed += detected.filesHashed
            report.skipped = detected.skipped
            (report.created, report.updated, report.deleted, report.moved) =
                (detected.created, detected.updated, detected.deleted, detected.moved)
            let (consistent, uploaded) = try await uploader.value
            report.bundles += uploaded.bundles
            report.bytesSent += uploaded.bytesSent
            report.sequence = uploaded.sequence
            if consistent {
                settled = true
                break
            }
        }
        if !report.unchangedSinceSnapshot {
            if settled { engine.saveSnapshot() } else { TreeSnapshot.remove(in: configuration.stateDirectory) }
        }
        engine.update { $0.phase = .done }
        report.durationMilliseconds = Double(started.duration(to: .now).nanoseconds) / 1e6
        engine.state.recordPush(at: RFC3339.string())
        return report
    }

    /// When a `deltasync watch` runs on this state directory it holds the lock and has already
    /// sent (or is sending) every change: ask it, as git asks fsmonitor, instead of scanning.
    /// Nil when no watcher answers; throws when one answers but cannot say the server is up to
    /// date (server unreachable, still busy after a minute) or watches another server.
    func answerFromWatch() throws -> PushReport? {
        let socket = configuration.stateDirectory + "/watch.sock"
        guard FileSystem.exists(socket), let data = ControlChannel.ask(socket, .push),
            let status = try? JSONDecoder().decode(ClientStatus.self, from: data)
        else { return nil }
        guard status.server == configuration.serverURL else {
            throw DeltaError(
                .stateLocked,
                "a deltasync watch on \(configuration.root) is syncing it to \(status.server); "
                    + "stop it, or give this push its own --state-dir")
        }
        guard status.idle else {
            let reason =
                status.serverError.map { "the server is not answering it (\($0))" }
                ?? "it still has \(status.pendingBundles) bundle(s) to send"
            throw DeltaError(
                .stateLocked,
                "a deltasync watch on \(configuration.root) is running and \(reason); "
                    + "see deltasync status, or wait and push again")
        }
        var report = PushReport()
        report.workspace = status.workspace ?? ""
        report.sequence = status.ackedSequence
        report.serverKind = status.serverKind ?? .deltasync
        report.viaWatch = true
        return report
    }
}

/// A flag shared between tasks.
final class Flag: Sendable {
    private let storage: Atomic<Bool>
    init(_ value: Bool) { storage = Atomic(value) }
    var value: Bool {
        get { storage.load(ordering: .acquiring) }
        set { storage.store(newValue, ordering: .releasing) }
    }
}
