import Foundation
import Synchronization

/// Stat-based polling for filesystems where inotify does not work (network mounts) and for
/// platforms without a native backend: every interval it asks for a rescan, which compares stat
/// fingerprints against the state database and reads only files that changed.
public final class PollingWatcher: FileWatcher, Sendable {
    let interval: Duration
    private let task = Mutex<Task<Void, Never>?>(nil)

    public init(interval: Duration) { self.interval = interval }

    public func start(sink: @escaping @Sendable (WatchEvent) -> Void) throws {
        let interval = self.interval
        task.withLock {
            $0 = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { return }
                    sink(.rescan(reason: "poll"))
                }
            }
        }
    }

    public func stop() { task.withLock { $0?.cancel() } }

    public var hasUnreadEvents: Bool { false }
}
