import CDeltaSys

/// Named points on the upload path where a test can stop the server dead (`_exit`, like
/// `kill -9`) or park one upload. `DELTASYNC_FAILPOINT=after-blobs` exits there; in-process
/// tests install a `hook` instead.
public struct Failpoints: Sendable {
    /// The points, in the order an upload passes them.
    public enum Point: String, Sendable, CaseIterable {
        case afterReceive = "after-receive"
        case afterValidate = "after-validate"
        case afterBlobs = "after-blobs"
        case afterCommit = "after-commit"
        case afterMaterialise = "after-materialise"
    }

    /// The point at which the process exits (from `DELTASYNC_FAILPOINT`).
    public var exitAt: Point?
    /// Makes every write to a materialised copy fail (`DELTASYNC_FAILPOINT=materialise-error`),
    /// to test degraded workspaces.
    public var materialiseError = false
    /// Called at every point with the workspace key; may suspend to park that upload.
    public var hook: (@Sendable (Point, String) async -> Void)?

    public init(
        exitAt: Point? = nil, materialiseError: Bool = false, hook: (@Sendable (Point, String) async -> Void)? = nil
    ) {
        self.exitAt = exitAt
        self.materialiseError = materialiseError
        self.hook = hook
    }

    func reach(_ point: Point, workspace: String) async {
        if let hook { await hook(point, workspace) }
        if exitAt == point { cdeltasys_exit_now(137) }
    }
}
