import CDeltaSys
import DeltaCore
import Dispatch
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import NIOCore
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// Builds the `deltasync serve` application: checks the configuration, prepares `WORK_DIR`,
/// opens the database, repairs materialised copies, and wires the routes.
public enum DeltaServer {
    /// The prepared server, ready to run as a service.
    public struct Prepared: Sendable {
        public let application: Application<RouterResponder<DeltaRequestContext>>
        public let storage: any DeltaStorage
        public let counters: ServerCounters
        /// Workspaces served read-only because their materialised copy could not be repaired.
        public let degraded: DegradedWorkspaces

        let workDirectory: String
        /// Where commits are announced, and the stream events encoded for them (tests).
        let publisher: any ChangePublisher
        let streamEvents: StreamEventCache
        /// How long `run` lets in-flight requests finish after SIGTERM.
        let shutdownGrace: Duration
        /// `WORK_DIR/serve.lock`, taken before start-up touches anything and held as long as
        /// this value lives.
        let lock: WorkDirectory.Lock

        /// Runs until SIGTERM or SIGINT, then shuts down gracefully: no new connections, change
        /// streams end, in-flight requests finish. Requests still going after `shutdownGrace`
        /// (a stalled upload, say) are cancelled, so a stop never waits on a client.
        public func run() async throws {
            // Released when the server has stopped, not when the last reference to this value
            // goes (a task still finishing could hold one, and a restart would be refused).
            defer { lock.release() }
            var configuration = ServiceGroupConfiguration(
                services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: application.logger)
            configuration.maximumGracefulShutdownDuration = shutdownGrace
            // No cancellation limit in the group: past one, it stops the process with a fatal
            // error and a backtrace. The deadline below exits cleanly instead.
            configuration.maximumCancellationDuration = nil
            let deadline = Task {
                await Self.exitIfStuck(after: shutdownGrace + Self.cancellationAllowance, logger: application.logger)
            }
            defer { deadline.cancel() }
            try await ServiceGroup(configuration: configuration).run()
        }

        /// How long work cancelled at the end of the grace may take to stop.
        static let cancellationAllowance: Duration = .seconds(10)

        /// From the first SIGTERM or SIGINT, gives the shutdown `limit`; if the process is still
        /// here then, something blocking does not heed cancellation (a thread stuck in I/O, say):
        /// it exits at once with status 0. Every commit is atomic and synced, so nothing
        /// committed is lost, and what was in progress (an upload not yet committed, an index
        /// step) is redone or resumed after a restart.
        static func exitIfStuck(after limit: Duration, logger: Logger) async {
            let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
            for await _ in signals {
                let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                    logger.error(
                        "shutdown still not finished \(Int(seconds)) s after the signal: exiting now; nothing committed is lost, and unfinished work is redone after a restart"
                    )
                    fflush(nil)
                    cdeltasys_exit_now(0)
                }
                return
            }
        }

        /// Runs until the calling task is cancelled (tests and embedding).
        public func runUntilCancelled() async throws {
            defer { lock.release() }
            try await application.run()
        }
    }

    public static func prepare(
        configuration: ServerConfiguration, logger: Logger, counters: ServerCounters = ServerCounters(),
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) async throws -> Prepared {
        let work = configuration.workDirectory
        try WorkDirectory.prepare(work, logger: logger)
        // Before the leftovers are cleared and copies repaired: a second server must not touch them.
        let lock = try WorkDirectory.Lock(work, purpose: "two servers cannot share a WORK_DIR")
        try FileSystem.createDirectory(work + "/tmp", mode: 0o700)
        try FileSystem.createDirectory(work + "/workspaces", mode: 0o700)
        try refuseCaseInsensitive(work)
        // Leftovers of uploads interrupted by a crash; never part of any committed state.
        FileSystem.removeTree(work + "/tmp")
        try FileSystem.createDirectory(work + "/tmp", mode: 0o700)

        let storage = try SQLiteStorage(path: configuration.databasePath)
        let authority = TokenAuthority(storage: storage, loopback: configuration.isLoopback)
        if !configuration.isLoopback, !configuration.insecureNoAuth, try await storage.tokenCount() == 0 {
            throw DeltaError(
                .configuration,
                "refusing to serve \(configuration.host) without authentication: create a token with "
                    + "'deltasync token create --workspace NAME --scope write' or pass --insecure-no-auth"
            )
        }
        let blobs = try BlobStore(root: work + "/blobs")
        // What a crashed server stored and never flushed: durable before an upload finds it.
        try blobs.makeDurable()
        let materializer = Materializer(
            root: work + "/workspaces", temporaryDirectory: work + "/tmp", blobs: blobs,
            failpoints: configuration.failpoints
        )
        // A copy that cannot be repaired must not keep the server down: the workspace is marked
        // degraded (read-only from the database) and retried; every other workspace is served.
        let degraded = DegradedWorkspaces()
        let repair = try await materializer.repair(storage: storage)
        if repair.repaired > 0 {
            logger.notice("repaired materialised workspaces", metadata: ["workspaces": "\(repair.repaired)"])
        }
        for (key, error) in repair.failed {
            degraded.mark(key, reason: "start-up repair failed")
            logger.error(
                "start-up repair failed; the workspace is read-only until it is repaired",
                metadata: ["workspace": "\(key)", "error": "\(error)"]
            )
        }
        let space = SpaceGuard(directory: work, floorBytes: configuration.minFreeBytes)
        let publisher = LocalChangePublisher(maxSubscribers: configuration.maxSubscribers)
        let streamEvents = StreamEventCache()
        let applier = BundleApplier(
            storage: storage, blobs: blobs, materializer: materializer, configuration: configuration,
            counters: counters, logger: logger, degraded: degraded, space: space, publisher: publisher,
            streamEvents: streamEvents
        )
        let gate = UploadGate(capacity: configuration.maxConcurrentUploads)
        let indexer = GraphIndexer(
            storage: storage, blobs: blobs, changes: publisher, metrics: counters.metrics, logger: logger,
            failpoints: configuration.failpoints, maxSubscribers: configuration.maxSubscribers,
            enabled: configuration.codeGraph, uploads: gate)
        let routeAuthority =
            configuration.insecureNoAuth ? TokenAuthority(storage: storage, loopback: true) : authority
        let router = Router(context: DeltaRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: counters.metrics))
        router.add(middleware: ErrorEnvelopeMiddleware(counters: counters))
        router.add(middleware: AuthMiddleware(authority: routeAuthority))
        ServerRoutes(
            storage: storage, configuration: configuration, counters: counters, authority: routeAuthority,
            degraded: degraded, publisher: publisher
        ).register(on: router)
        WorkspaceRoutes(storage: storage, authority: routeAuthority, configuration: configuration, indexer: indexer)
            .register(on: router)
        GraphRoutes(storage: storage, indexer: indexer, configuration: configuration)
            .register(on: router)
        WebPage.register(on: router)
        let api = router.group("/api/v1/delta")
        UploadRoutes(
            storage: storage, applier: applier,
            receiver: UploadReceiver(
                limits: configuration.limits, temporaryDirectory: work + "/tmp",
                deadline: .seconds(configuration.uploadTimeoutSeconds), counters: counters, space: space,
                failpoints: configuration.failpoints
            ),
            configuration: configuration, authority: routeAuthority,
            gate: gate, degraded: degraded, indexer: indexer
        ).register(on: api)
        FeedRoutes(
            storage: storage, blobs: blobs, publisher: publisher, configuration: configuration,
            metrics: counters.metrics, events: streamEvents
        ).register(
            on: api)

        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [LingeringCloseHandler(counters: counters)],
            idleTimeout: .seconds(Int64(configuration.uploadTimeoutSeconds))
        )
        let server: HTTPServerBuilder
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
            server = try .tls(.http1(configuration: http), tlsConfiguration: tls)
        } else if configuration.tlsCertificatePath != nil || configuration.tlsKeyPath != nil {
            throw DeltaError(.configuration, "--tls-cert and --tls-key must be given together")
        } else {
            server = .http1(configuration: http)
        }
        let application = Application(
            router: router, server: server,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "deltasync"),
            services: [
                RepairService(applier: applier, interval: .seconds(max(1, configuration.repairRetrySeconds)))
            ] + (configuration.codeGraph ? [indexer] : []),
            onServerRunning: onServerRunning, logger: logger
        )
        return Prepared(
            application: application, storage: storage, counters: counters, degraded: degraded, workDirectory: work,
            publisher: publisher, streamEvents: streamEvents,
            shutdownGrace: .seconds(configuration.shutdownGraceSeconds), lock: lock)
    }

    /// `deltasync repair`: rebuilds a workspace's materialised copy from the database, with no
    /// server running on `workDirectory`. Returns the number of files written.
    public static func repair(workDirectory work: String, workspace: String, logger: Logger) async throws -> Int {
        guard FileSystem.exists(work + "/deltasync.sqlite") else {
            throw DeltaError(.configuration, "no DeltaSync database in \(work) (is --work-dir right?)")
        }
        let lock = try WorkDirectory.Lock(
            work,
            purpose: "it retries degraded workspaces by itself every 30 s; stop it to repair by hand"
        )
        defer { withExtendedLifetime(lock) {} }
        do {
            let storage = try SQLiteStorage(path: work + "/deltasync.sqlite")
            guard try await storage.workspace(workspace) != nil else {
                throw DeltaError(.notFound, "workspace '\(workspace)' does not exist in \(work)")
            }
            try FileSystem.createDirectory(work + "/tmp", mode: 0o700)
            let materializer = Materializer(
                root: work + "/workspaces", temporaryDirectory: work + "/tmp",
                blobs: try BlobStore(root: work + "/blobs"))
            return try await materializer.rebuild(workspace: workspace, storage: storage)
        }
    }

    /// `deltasync graph rebuild`: builds a workspace's code graph from scratch, with no server
    /// running on `workDirectory`. Returns the graph's files and edges.
    public static func rebuildGraph(workDirectory work: String, workspace: String, logger: Logger) async throws -> (
        files: Int, edges: Int
    ) {
        guard FileSystem.exists(work + "/deltasync.sqlite") else {
            throw DeltaError(.configuration, "no DeltaSync database in \(work) (is --work-dir right?)")
        }
        let lock = try WorkDirectory.Lock(work, purpose: "stop it to rebuild the graph by hand")
        defer { withExtendedLifetime(lock) {} }
        let storage = try SQLiteStorage(path: work + "/deltasync.sqlite")
        guard try await storage.workspace(workspace) != nil else {
            throw DeltaError(.notFound, "workspace '\(workspace)' does not exist in \(work)")
        }
        return try await GraphIndexer.rebuild(
            storage: storage, blobs: try BlobStore(root: work + "/blobs"), workspace: workspace, logger: logger)
    }

    /// `deltasync compact`: keeps the newest `keep` change-log entries of a workspace. Works
    /// beside a running server (the database takes concurrent writers).
    public static func compact(workDirectory work: String, workspace: String, keep: Int64) async throws -> (
        firstRetained: Int64, compacted: Int
    ) {
        guard FileSystem.exists(work + "/deltasync.sqlite") else {
            throw DeltaError(.configuration, "no DeltaSync database in \(work) (is --work-dir right?)")
        }
        let storage = try SQLiteStorage(path: work + "/deltasync.sqlite")
        return try await Compaction(storage: storage).compact(workspace: workspace, keep: keep)
    }

    /// A case-insensitive `WORK_DIR` would merge paths that differ only in case.
    static func refuseCaseInsensitive(_ work: String) throws {
        let probe = work + "/tmp/CaseProbe-\(UUID().uuidString)"
        try FileSystem.writeAtomically(probe, [])
        defer { unlink(probe) }
        if FileSystem.exists(work + "/tmp/caseprobe-" + probe.suffix(36).lowercased())
            || FileSystem.exists(probe.lowercased())
        {
            throw DeltaError(
                .configuration, "WORK_DIR \(work) is on a case-insensitive filesystem; use a case-sensitive one")
        }
    }
}
