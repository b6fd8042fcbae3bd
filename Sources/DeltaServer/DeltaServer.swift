import DeltaCore
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import NIOCore
import NIOSSL

/// Builds the `deltasync serve` application: checks the configuration, prepares `WORK_DIR`,
/// opens the database, repairs materialised copies, and wires the routes.
public enum DeltaServer {
    /// The prepared server, ready to run as a service.
    public struct Prepared: Sendable {
        public let application: Application<RouterResponder<DeltaRequestContext>>
        public let storage: any DeltaStorage
        public let counters: ServerCounters

        /// Runs until SIGTERM or SIGINT, then shuts down gracefully (in-flight uploads finish).
        public func run() async throws { try await application.runService() }

        /// Runs until the calling task is cancelled (tests and embedding).
        public func runUntilCancelled() async throws { try await application.run() }
    }

    public static func prepare(
        configuration: ServerConfiguration, logger: Logger, counters: ServerCounters = ServerCounters(),
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) async throws -> Prepared {
        let work = configuration.workDirectory
        try FileSystem.createDirectory(work)
        try FileSystem.createDirectory(work + "/tmp")
        try FileSystem.createDirectory(work + "/workspaces")
        try refuseCaseInsensitive(work)
        // Leftovers of uploads interrupted by a crash; never part of any committed state.
        FileSystem.removeTree(work + "/tmp")
        try FileSystem.createDirectory(work + "/tmp")

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
        let materializer = Materializer(root: work + "/workspaces", temporaryDirectory: work + "/tmp", blobs: blobs)
        let repaired = try await materializer.repair(storage: storage)
        if repaired > 0 {
            logger.notice("repaired materialised workspaces", metadata: ["workspaces": "\(repaired)"])
        }
        let applier = BundleApplier(
            storage: storage, blobs: blobs, materializer: materializer, configuration: configuration,
            counters: counters, logger: logger
        )
        let routes = DeltaRoutes(
            storage: storage, applier: applier,
            receiver: UploadReceiver(
                limits: configuration.limits, temporaryDirectory: work + "/tmp",
                deadline: .seconds(configuration.uploadTimeoutSeconds), counters: counters
            ),
            blobs: blobs, configuration: configuration, counters: counters,
            authority: configuration.insecureNoAuth ? TokenAuthority(storage: storage, loopback: true) : authority
        )
        let router = Router(context: DeltaRequestContext.self)
        router.add(middleware: ErrorEnvelopeMiddleware(counters: counters))
        router.add(middleware: AuthMiddleware(authority: routes.authority))
        routes.register(on: router)

        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [CloseAfterResponseHandler()],
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
            onServerRunning: onServerRunning, logger: logger
        )
        return Prepared(application: application, storage: storage, counters: counters)
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
