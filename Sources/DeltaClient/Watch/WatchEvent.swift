/// What a watcher reports. Paths are workspace-relative.
public enum WatchEvent: Sendable, Hashable {
    /// Something at this path changed (file or directory, written, deleted, renamed).
    case changed(String)
    /// A file was created at this path (its content may still be coming).
    case created(String)
    /// A file was closed after writing, or moved in: its content is complete for now.
    case completed(String)
    /// A directory appeared (created or moved in): scan it whole, files may predate its watch.
    case directoryAppeared(String)
    /// The watcher lost events (queue overflow, watch limit): rescan everything.
    case rescan(reason: String)
}

/// A source of `WatchEvent`s for one workspace. Linux uses inotify; elsewhere, or with
/// `--poll`, periodic stat-based rescans.
public protocol FileWatcher: Sendable {
    /// Installs the watches. Called before the catch-up scan so nothing made during start-up
    /// is missed; events flow to `sink` from then on.
    func start(sink: @escaping @Sendable (WatchEvent) -> Void) throws
    func stop()
    /// Whether events may still be in flight inside the watcher (kernel queue not yet read).
    var hasUnreadEvents: Bool { get }
}
