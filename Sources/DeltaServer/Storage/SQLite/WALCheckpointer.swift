import Dispatch
import Foundation
import GRDB
import Synchronization

/// Copies the write-ahead log back into the database on a connection and a thread of its own,
/// after each commit, so that no commit does it: SQLite's automatic checkpoint runs inside the
/// commit that crosses its threshold, under the workspace's lock. In a first push of 100,000
/// files the log grew by ~15 MB per bundle (random keys in the hex hash indexes of then), and
/// the checkpoints took about a third of the summed commit time.
///
/// A checkpoint starts once the commits since the last one have written `thresholdRows` rows
/// (each dirtying a page or two of the table and its indexes): a one-file save's commit is not
/// followed by a checkpoint's syncs on the same disk, and a first push is checkpointed every few
/// bundles rather than after each. A checkpoint writes each page changed since the last one
/// once, and a first push changes the same pages (the indexes' inner pages, the change log's)
/// in every bundle: at 500 rows, one checkpoint a bundle, a first push of synthetic-100k wrote
/// 60 MB more (1,719–1,737 MB against 1,662–1,672 MB). At 4,000 rows it wrote 25 MB less again,
/// but its log reached the backstop.
/// Checkpoints are `PASSIVE`: they copy what no reader still needs and never wait for or block
/// the writer. The writer keeps an automatic checkpoint at `backstopPages` (40 MiB of log) in
/// case these fall behind. Safe to be interrupted at any point: the log stays the truth until a
/// checkpoint completes, as with SQLite's own.
final class WALCheckpointer: Sendable {
    /// The writer's own automatic checkpoint threshold, in pages (SQLite's default is 1,000).
    static let backstopPages = 10_000
    /// Rows written since the last checkpoint that start the next one. In a first push the log
    /// then reached 11–44 MB (10–16 MB at 500 rows): readers that hold a snapshot keep a
    /// checkpoint from copying all of it.
    static let thresholdRows = 2_000

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "deltasync.wal-checkpoint", qos: .utility)
    /// Whether a checkpoint is running, whether enough was written while it did for another,
    /// and the rows written since the last one started.
    private let state = Mutex<(running: Bool, again: Bool, rows: Int)>((false, false, 0))
    private let completed = Atomic<Int>(0)

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Checkpoints completed so far (for tests).
    var count: Int { completed.load(ordering: .relaxed) }

    /// Called after each commit with the rows it wrote: once `thresholdRows` have accumulated,
    /// starts a checkpoint unless one is running, in which case one more follows it.
    func committed(rows: Int) {
        let start = state.withLock { state in
            state.rows += rows
            guard state.rows >= Self.thresholdRows else { return false }
            state.rows = 0
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
