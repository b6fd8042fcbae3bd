import CDeltaSys

#if canImport(Glibc)
    import Glibc
#endif

/// Named points on the upload path where a test can stop the server dead (`_exit`, like
/// `kill -9`) or park one upload. `DELTASYNC_FAILPOINT=after-blobs` exits there; in-process
/// tests install a `hook` instead.
public struct Failpoints: Sendable {
    /// The points, in the order an upload passes them.
    public enum Point: String, Sendable, CaseIterable {
        case afterReceive = "after-receive"
        /// As validation begins, on a thread of the blocking pool: a compressed bundle's first
        /// progress report, an uncompressed one's first bytes read as they arrive (before
        /// `afterReceive`, which such a bundle reaches once it is whole and checked).
        case duringValidate = "during-validate"
        case afterValidate = "after-validate"
        case afterBlobs = "after-blobs"
        case afterCommit = "after-commit"
        case afterMaterialise = "after-materialise"
        /// In the code graph's indexer, after a step updated the graph in memory and before it
        /// commits (not on the upload path: uploads never wait for indexing).
        case graphBeforeCommit = "graph-before-commit"
    }

    /// The points an upload passes (every point but the graph indexer's).
    public static var uploadPathPoints: [Point] { Point.allCases.filter { $0 != .graphBeforeCommit } }

    /// The point at which the process exits (from `DELTASYNC_FAILPOINT`).
    public var exitAt: Point?
    /// A point inside blocking work where the thread stops for good, deaf to cancellation
    /// (`DELTASYNC_FAILPOINT=hang:during-validate`): what a stop must still get past.
    public var hangAt: Point?
    /// Makes every write to a materialised copy fail (`DELTASYNC_FAILPOINT=materialise-error`),
    /// to test degraded workspaces.
    public var materialiseError = false
    /// Called at every point with the workspace key; may suspend to park that upload.
    public var hook: (@Sendable (Point, String) async -> Void)?
    /// Called synchronously at points reached on the blocking pool; may block that thread (a
    /// test shows the rest of the server keeps going while it does).
    public var blockingHook: (@Sendable (Point, String) -> Void)?

    public init(
        exitAt: Point? = nil, materialiseError: Bool = false, hook: (@Sendable (Point, String) async -> Void)? = nil,
        blockingHook: (@Sendable (Point, String) -> Void)? = nil
    ) {
        self.exitAt = exitAt
        self.materialiseError = materialiseError
        self.hook = hook
        self.blockingHook = blockingHook
    }

    /// A point inside blocking work: no suspension possible, the hook runs on the pool thread.
    func reachBlocking(_ point: Point, workspace: String) {
        blockingHook?(point, workspace)
        if exitAt == point { cdeltasys_exit_now(137) }
        while hangAt == point { sleep(3600) }
    }

    /// Whether reaching `point` can do anything (a hook is installed, or the process exits there).
    func watches(_ point: Point) -> Bool { hook != nil || exitAt == point }

    func reach(_ point: Point, workspace: String) async {
        if let hook { await hook(point, workspace) }
        if exitAt == point { cdeltasys_exit_now(137) }
    }
}
