import CDeltaSys
import DeltaCore
import Foundation
import Logging

/// The outbox: change sets written as bundles, recorded with the file-table changes they carry in
/// one transaction, and uploaded in order. Killed at any moment, the next run finds what is
/// pending; bundle ids make replays idempotent on our server.
///
/// A large uncompressed bundle is kept as its source list (``BundleSources``): the tar's own bytes
/// and where each file's content is, read again as it uploads. A first push then writes no copy
/// of the workspace. A file that changed since makes the upload stop before the bundle is whole;
/// the state is then reconciled with the server's manifest (`SyncEngine.drain`), the tree on
/// disk being the truth.
///
/// A bundle is made durable (`makeDurable`: fsync of the file and the outbox directory) while it
/// uploads, not before: the two fsyncs took 15 ms of a save's path to the server on a busy disk.
/// A process killed at any point loses nothing (the page cache survives it). A power loss before
/// the fsync can leave an entry whose file is gone or short; the next run drops such entries and
/// reconciles with the server (`ClientState.dropLostPending`), the tree on disk being the truth.
struct Outbox: Sendable {
    let state: ClientState
    let root: String
    let logger: Logger

    /// Writes `changes` as bundles of `format` that fit `info` and records them. Throws
    /// `CHANGED_WHILE_BUNDLING` when a file changed between hashing and bundling.
    /// - Returns: how many bundles were queued.
    @discardableResult
    func enqueue(
        _ changes: ChangeSet, info: ServerInfo, kind: ServerKind, format: BundleFormat = .tarGz, force: Bool
    ) throws -> Int {
        try state.refresh(changes.refreshed)
        guard !changes.isEmpty else { return 0 }
        let bundles = planner(info: info, kind: kind).plan(changes)
        for bundle in bundles {
            let (id, file, size) = try write(bundle, format: Self.format(format, for: bundle, info: info))
            try state.enqueue(
                bundleID: id, file: file, size: size, operations: bundle.entries.count, upserts: bundle.upserts,
                deletes: bundle.deletes, paths: bundle.paths, force: force
            )
            logger.debug(
                "bundle queued", metadata: ["bundle.id": "\(id)", "bundle.operations": "\(bundle.entries.count)"])
        }
        ClientFailpoint.check("after-outbox")
        return bundles.count
    }

    /// How `enqueue` cuts changes into bundles for a server of `kind` that published `info`.
    func planner(info: ServerInfo, kind: ServerKind) -> BundlePlanner {
        BundlePlanner(root: root, info: info, movesCarryContent: kind == .compatibleCore)
    }

    /// Replaces everything pending by one idempotent bundle (more only if the limits demand it)
    /// of the current content of every path the pending bundles touch: present files as
    /// `created` with content, absent ones as `deleted`. Adopts `expected - 1` as acknowledged so
    /// the first replacement goes up as `expected`, with `force=true`.
    func replacePendingForRecovery(
        current: (_ paths: [String]) -> (changes: ChangeSet, missing: [String]), info: ServerInfo, expected: Int64
    ) throws -> Bool {
        let pending = try state.pending()
        guard pending.allSatisfy({ $0.paths != nil }) else { return false }
        var touched = Set<String>()
        for entry in pending { touched.formUnion(entry.paths ?? []) }
        let (present, missing) = current(touched.sorted())
        var changes = present
        for path in missing.sorted() {
            changes.changes.append(
                ChangeSet.Change(operation: BundleOperation(operation: .deleted, path: path), state: nil))
        }
        let planned = BundlePlanner(root: root, info: info, movesCarryContent: true).plan(changes)
        var replacements: [ClientState.Replacement] = []
        do {
            for bundle in planned {
                let (id, file, size) = try write(bundle)
                replacements.append(
                    ClientState.Replacement(
                        bundleID: id, file: file, size: size, operations: bundle.entries.count, paths: bundle.paths))
            }
            try state.replacePending(
                with: replacements, upserts: planned.flatMap(\.upserts), deletes: missing, adopting: expected - 1)
        } catch {
            for replacement in replacements { unlink(state.outboxPath(replacement.file)) }
            throw error
        }
        logger.notice(
            "re-sending the unacknowledged changes as one idempotent bundle",
            metadata: ["paths": "\(touched.count)", "sequence": "\(expected)"])
        return true
    }

    /// `preferred`, unless an uncompressed tar of `bundle` could exceed the server's upload limit
    /// (the planner keeps bundles well under it, so this is a guard, not a path taken).
    static func format(_ preferred: BundleFormat, for bundle: BundlePlanner.Planned, info: ServerInfo) -> BundleFormat {
        guard preferred == .tar else { return preferred }
        let headers = Int64(bundle.entries.count) * (BundlePlanner.entryOverhead + BundlePlanner.operationOverhead)
        return bundle.contentBytes + headers + (64 << 10) <= info.maxBundleSizeMB << 20 ? .tar : .tarGz
    }

    /// A bundle of at least this much content, sent uncompressed, is kept in the outbox as its
    /// source list (``BundleSources``) rather than as a copy. A smaller one (a save's) is copied:
    /// a file saved again before its bundle has gone up then still sends what was recorded,
    /// where a list would have to be given up and the state reconciled.
    static let sourceListThreshold: Int64 = 1 << 20

    private func write(
        _ bundle: BundlePlanner.Planned, format: BundleFormat = .tarGz
    ) throws -> (id: String, file: String, size: Int64) {
        let id = UUID().uuidString.lowercased()
        let asSources =
            format == .tar && bundle.contentBytes >= Self.sourceListThreshold
            && BundleWriter.canReference(bundle.entries)
        let file = id + (asSources ? BundleSources.fileExtension : format.fileExtension)
        let size: Int64
        do {
            let writer = BundleWriter(format: format)
            if asSources {
                size = try writer.writeSources(
                    to: state.outboxPath(file), bundleID: id, workspacePath: root, sequenceNumber: nil,
                    entries: bundle.entries
                ).bundleSize
            } else {
                size = try writer.write(
                    to: state.outboxPath(file), bundleID: id, workspacePath: root, sequenceNumber: nil,
                    entries: bundle.entries, sync: false
                )
            }
        } catch {
            unlink(state.outboxPath(file))
            throw error
        }
        return (id, file, size)
    }

    /// Fsyncs an outbox bundle and the outbox directory, on a Dispatch thread (a cooperative
    /// thread must not wait on the disk).
    static func makeDurable(_ path: String, directory: String) async throws {
        try await offThePool {
            let file = try RawFile.open(reading: path)
            try file.sync()
            try syncDirectory(directory)
        }
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DeltaError.posix("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw DeltaError.posix("fsync", path) }
    }
}

/// `DELTASYNC_CLIENT_FAILPOINT=NAME` makes the client `_exit(137)` at that point (crash tests).
enum ClientFailpoint {
    /// Read once: `ProcessInfo.environment` builds a dictionary of the whole environment, and
    /// `check` runs on every save.
    static let armed = ProcessInfo.processInfo.environment["DELTASYNC_CLIENT_FAILPOINT"]

    static func check(_ name: String) {
        if armed == name { cdeltasys_exit_now(137) }
    }
}
