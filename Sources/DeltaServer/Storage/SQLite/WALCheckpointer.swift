import Dispatch
import Foundation
import GRDB
import Synchronization

/// Copies the write-ahead log back into the database on a connection and a thread of its own,
/// after each commit, so that no commit does it: SQLite's automatic checkpoint runs inside the
/// commit that crosses its threshold, under the workspace's lock. In a first push of 100,000
/// files the log grew by ~15 MB per bundle (random keys in the hash indexes), and the
/// checkpoints took about a third of the summed commit time.
///
/// Checkpoints are `PASSIVE`: they copy what no reader still needs and never wait for or block
/// the writer. The writer keeps an automatic checkpoint at `backstopPages` (40 MiB of log) in
/// case these fall behind. Safe to be interrupted at any point: the log stays the truth until a
/// checkpoint completes, as with SQLite's own.
final class WALCheckpointer: Sendable {
    /// The writer's own automatic checkpoint threshold, in pages (SQLite's default is 1,000).
    static let backstopPages = 10_000

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "deltasync.wal-checkpoint", qos: .utility)
    /// Whether a checkpoint is running, and whether a commit came in while it did.
    private let state = Mutex<(running: Bool, again: Bool)>((false, false))
    private let completed = Atomic<Int>(0)

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Checkpoints completed so far (for tests).
    var count: Int { completed.load(ordering: .relaxed) }

    /// Called after each commit: starts a checkpoint unless one is running, in which case one more
    /// follows it.
    func committed() {
        let start = state.withLock { state in
            if state.running {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        guard start else { return }
        queue.async { self.run() }
    }

    private func run() {
        repeat {
            do {
                try connection.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
                completed.add(1, ordering: .relaxed)
            } catch {
                // Busy or failing: the next commit tries again, and the writer's backstop holds.
            }
        } while state.withLock { state in
            if state.again {
                state.again = false
                return true
            }
            state.running = false
            return false
        }
    }
}
