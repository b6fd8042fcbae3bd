import NIOCore
import NIOPosix

/// Runs blocking work (gunzip, untar, hashing, file writes, `syncfs`) on a thread pool of its
/// own, never on Swift's cooperative pool: that pool has one thread per core (two here), and a
/// bundle holding one for seconds would stall heartbeats, `/health` and every other workspace.
///
/// The pool is not NIO's shared singleton (one thread per core as well, and used by file
/// serving): a `syncfs` can take seconds on a busy disk, and uploads to other workspaces must
/// not queue behind it.
enum Blocking {
    static let threadCount = max(8, 4 * System.coreCount)

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threadCount)
        pool.start()
        return pool
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
