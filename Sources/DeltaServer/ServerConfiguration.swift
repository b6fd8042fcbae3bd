public import DeltaCore
import Foundation
public import Logging

/// Everything `deltasync serve` can be told, from flags or the environment.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Database, blobs, materialised workspaces and temporary files live here.
    public var workDirectory: String
    public var limits: BundleLimits
    /// Deadline for one upload request, enforced while its body streams in.
    public var uploadTimeoutSeconds: Int
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Allow serving a non-loopback address without any token.
    public var insecureNoAuth: Bool
    public var logLevel: Logger.Level
    public var failpoints: Failpoints
    /// Uploads received or applied at once, over all workspaces; more get `503` + `Retry-After`.
    public var maxConcurrentUploads: Int
    /// Free space `WORK_DIR` keeps: an upload that would go below it gets `507`.
    public var minFreeBytes: Int64
    /// How often degraded workspaces are retried in the background.
    public var repairRetrySeconds: Int
    /// Seconds between keep-alive comments on a change stream.
    public var heartbeatSeconds: Double = 15
    /// Change-stream subscribers at once; more get `503` + `Retry-After`.
    public var maxSubscribers: Int = 10_000
    /// Keep only the newest N change-log entries per workspace (compacted after each commit);
    /// nil keeps everything.
    public var retainChanges: Int64?
    /// Whether the server keeps a code graph of each workspace (`--no-graph` turns it off).
    public var codeGraph = true
    /// After SIGTERM, how long in-flight requests may take to finish before they are cancelled.
    public var shutdownGraceSeconds = 30

    public init(
        host: String = "127.0.0.1", port: Int = 8002, workDirectory: String = "./deltasync-data",
        limits: BundleLimits = BundleLimits(), uploadTimeoutSeconds: Int = 300, tlsCertificatePath: String? = nil,
        tlsKeyPath: String? = nil, insecureNoAuth: Bool = false, logLevel: Logger.Level = .info,
        failpoints: Failpoints = Failpoints(), maxConcurrentUploads: Int = Self.defaultMaxConcurrentUploads,
        minFreeBytes: Int64 = 256 << 20, repairRetrySeconds: Int = 30
    ) {
        self.host = host
        self.port = port
        self.workDirectory = workDirectory
        self.limits = limits
        self.uploadTimeoutSeconds = uploadTimeoutSeconds
        self.tlsCertificatePath = tlsCertificatePath
        self.tlsKeyPath = tlsKeyPath
        self.insecureNoAuth = insecureNoAuth
        self.logLevel = logLevel
        self.failpoints = failpoints
        self.maxConcurrentUploads = maxConcurrentUploads
        self.minFreeBytes = minFreeBytes
        self.repairRetrySeconds = repairRetrySeconds
    }

    /// Two uploads per core.
    public static var defaultMaxConcurrentUploads: Int { 2 * ProcessInfo.processInfo.activeProcessorCount }

    /// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost) — not 0.0.0.0.
    public var isLoopback: Bool { Self.isLoopback(host) }

    public static func isLoopback(_ host: String) -> Bool {
        let trimmed = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if trimmed == "localhost" || trimmed == "::1" { return true }
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    public var databasePath: String { workDirectory + "/deltasync.sqlite" }
}
