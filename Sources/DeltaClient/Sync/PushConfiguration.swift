import DeltaCore

/// Everything `deltasync push` needs to know.
public struct PushConfiguration: Sendable {
    /// The workspace directory (absolute).
    public var root: String
    public var serverURL: String
    /// An explicit workspace name; otherwise the server derives one from `root`.
    public var workspaceName: String?
    public var token: String?
    /// Where the state database and outbox live (default `root/.deltasync`).
    public var stateDirectory: String
    public var retry: RetryPolicy
    public var requestTimeout: Duration
    /// Whether bundles are gzip-compressed; by default only when the server is not on loopback.
    public var compression: BundleCompression = .auto
    /// Whether the caller lists skipped paths itself (`push` prints them in its summary and
    /// `--json` report), so the engine does not also log a warning for each, on every push.
    public var listsSkipped = false
    /// Entries changed this shortly before a full scan keep it from being saved as a
    /// `TreeSnapshot` (a later change in the same timestamp tick could leave their stat as it
    /// was). Tests shorten it to see the snapshot at work on a tree they just wrote.
    var racyWindow: Duration = TreeSnapshot.racyWindow

    public init(
        root: String, serverURL: String = "http://127.0.0.1:8002", workspaceName: String? = nil, token: String? = nil,
        stateDirectory: String? = nil, retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(120)
    ) {
        self.root = root
        self.serverURL = serverURL
        self.workspaceName = workspaceName
        self.token = token
        self.stateDirectory = stateDirectory ?? root + "/" + PushConfiguration.defaultStateDirectoryName
        self.retry = retry
        self.requestTimeout = requestTimeout
    }

    public static let defaultStateDirectoryName = ".deltasync"

    public var workspace: WorkspaceReference { WorkspaceReference(name: workspaceName, path: root) }

    /// The state directory's name when it sits directly inside the workspace (so the scanner skips it).
    var stateDirectoryNameInsideRoot: String {
        if stateDirectory.hasPrefix(root + "/") {
            let rest = stateDirectory.dropFirst(root.count + 1)
            if !rest.contains("/") { return String(rest) }
        }
        return PushConfiguration.defaultStateDirectoryName
    }
}
