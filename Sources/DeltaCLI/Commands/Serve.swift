import ArgumentParser
import CDeltaSys
import DeltaCore
import DeltaServer
import Foundation
import Logging
import NIOCore

/// `deltasync serve`: runs the upload server.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the DeltaSync server (SQLite database and blobs under --work-dir)."
    )

    @Option(help: "Address to listen on (env: DELTASYNC_HOST, UPLOAD_SERVICE_HOST). Default 127.0.0.1")
    var host: String?

    @Option(help: "Port (0 picks a free one) (env: DELTASYNC_PORT, UPLOAD_SERVICE_PORT). Default 8002")
    var port: Int?

    @OptionGroup var work: WorkDirectoryOption

    @Option(help: "Largest compressed upload in MiB (env: MAX_BUNDLE_SIZE_MB). Default 100")
    var maxBundleSizeMb: Int64?

    @Option(help: "Largest total uncompressed bundle in MiB (env: DELTASYNC_MAX_UNCOMPRESSED_MB). Default 1024")
    var maxUncompressedMb: Int64?

    @Option(help: "Largest single file in MiB (env: DELTASYNC_MAX_FILE_MB). Default 256")
    var maxFileMb: Int64?

    @Option(help: "Most tar entries in one bundle (env: DELTASYNC_MAX_ENTRIES). Default 100000")
    var maxEntries: Int?

    @Option(help: "Deadline for one upload in seconds (env: UPLOAD_TIMEOUT_SECS). Default 300")
    var uploadTimeout: Int?

    @Option(
        help:
            "Uploads handled at once over all workspaces; more get 503 + Retry-After (env: DELTASYNC_MAX_CONCURRENT_UPLOADS). Default 2 × cores"
    )
    var maxConcurrentUploads: Int?

    @Option(
        help:
            "Free space WORK_DIR keeps; an upload that would go below it gets 507 (env: DELTASYNC_MIN_FREE_MB). Default 256"
    )
    var minFreeMb: Int64?

    @Option(
        name: .customLong("heartbeat-secs"),
        help: "Seconds between keep-alive comments on change streams (env: DELTASYNC_HEARTBEAT_SECS). Default 15")
    var heartbeatSeconds: Int64?

    @Option(
        help:
            "Change-stream subscribers at once; more get 503 + Retry-After (env: DELTASYNC_MAX_SUBSCRIBERS). Default 10000"
    )
    var maxSubscribers: Int64?

    @Option(
        help:
            "Keep only the newest N change-log entries per workspace, compacting after each upload (env: DELTASYNC_RETAIN_CHANGES). Default: keep all"
    )
    var retainChanges: Int64?

    @Option(
        name: .customLong("shutdown-grace-secs"),
        help:
            "After SIGTERM or SIGINT, seconds in-flight requests get to finish before they are cut off (env: DELTASYNC_SHUTDOWN_GRACE_SECS). Default 30"
    )
    var shutdownGraceSeconds: Int64?

    @Flag(
        inversion: .prefixedNo,
        help: "Keep a code graph of every workspace (env: DELTASYNC_GRAPH=0 turns it off). Default on")
    var graph = true

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain; serves HTTPS with --tls-key")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key")
    var tlsKey: String?

    @Flag(help: "Serve a non-loopback address with no token (never do this on a shared network)")
    var insecureNoAuth = false

    @Option(help: "trace, debug, info, notice, warning, error (env: UPLOAD_SERVICE_LOG_LEVEL). Default info")
    var logLevel: String?

    func run() async throws {
        let configuration = try makeConfiguration()
        ServerAllocator.configure()
        // Before the first upload: an upload's file content waits in anonymous spool files, at
        // most half the descriptor limit of them at once (`AnonymousSpool.limit`).
        _ = cdeltasys_raise_descriptor_limit()
        CommandOutput.bootstrapLogging(level: configuration.logLevel)
        let logger = Logger(label: "deltasync.server")
        let prepared: DeltaServer.Prepared
        do {
            prepared = try await DeltaServer.prepare(configuration: configuration, logger: logger) { channel in
                let port = channel.localAddress?.port ?? configuration.port
                let scheme = configuration.tlsCertificatePath == nil ? "http" : "https"
                FileHandle.standardOutput.write(
                    Data("deltasync listening on \(scheme)://\(configuration.host):\(port)\n".utf8))
            }
        } catch let error as DeltaError {
            throw ValidationError(error.message)
        }
        try await prepared.run()
    }

    func makeConfiguration() throws -> ServerConfiguration {
        var limits = BundleLimits()
        // Every limit is range-checked before it is shifted into bytes (1 TiB at most).
        let megabytes: ClosedRange<Int64> = 1...(1 << 20)
        if let value = try maxBundleSizeMb ?? Environment.integer("DELTASYNC_MAX_BUNDLE_SIZE_MB", "MAX_BUNDLE_SIZE_MB")
        {
            limits.maxCompressedBytes = try Self.checked(value, in: megabytes, "--max-bundle-size-mb") << 20
        }
        if let value = try maxUncompressedMb ?? Environment.integer("DELTASYNC_MAX_UNCOMPRESSED_MB") {
            limits.maxUncompressedBytes = try Self.checked(value, in: megabytes, "--max-uncompressed-mb") << 20
        }
        if let value = try maxFileMb ?? Environment.integer("DELTASYNC_MAX_FILE_MB") {
            limits.maxFileBytes = try Self.checked(value, in: megabytes, "--max-file-mb") << 20
        }
        if let value = try maxEntries.map(Int64.init) ?? Environment.integer("DELTASYNC_MAX_ENTRIES") {
            limits.maxEntries = Int(try Self.checked(value, in: 1...10_000_000, "--max-entries"))
        }
        let concurrent =
            try maxConcurrentUploads.map(Int64.init) ?? Environment.integer("DELTASYNC_MAX_CONCURRENT_UPLOADS")
        let minFree = try minFreeMb ?? Environment.integer("DELTASYNC_MIN_FREE_MB")
        let portText = Environment.value("DELTASYNC_PORT", "UPLOAD_SERVICE_PORT")
        guard let resolvedPort = port ?? (portText.map { Int($0) } ?? 8002), (0...65535).contains(resolvedPort) else {
            throw ValidationError("port must be 0...65535")
        }
        let levelText = (logLevel ?? Environment.value("DELTASYNC_LOG_LEVEL", "UPLOAD_SERVICE_LOG_LEVEL") ?? "info")
            .lowercased()
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ValidationError("unknown log level '\(levelText)'")
        }
        var failpoints = Failpoints()
        if let name = Environment.value("DELTASYNC_FAILPOINT") {
            if name == "materialise-error" {
                failpoints.materialiseError = true
            } else if name.hasPrefix("hang:"), let point = Failpoints.Point(rawValue: String(name.dropFirst(5))) {
                failpoints.hangAt = point
            } else if let point = Failpoints.Point(rawValue: name) {
                failpoints.exitAt = point
            } else {
                throw ValidationError(
                    "DELTASYNC_FAILPOINT must be one of "
                        + (Failpoints.Point.allCases.map(\.rawValue) + ["materialise-error", "hang:POINT"])
                        .joined(separator: ", ")
                )
            }
        }
        var configuration = ServerConfiguration(
            host: host ?? Environment.value("DELTASYNC_HOST", "UPLOAD_SERVICE_HOST") ?? "127.0.0.1",
            port: resolvedPort,
            workDirectory: work.resolved,
            limits: limits,
            uploadTimeoutSeconds: Int(
                try uploadTimeout.map(Int64.init) ?? Environment.integer(
                    "DELTASYNC_UPLOAD_TIMEOUT_SECS", "UPLOAD_TIMEOUT_SECS") ?? 300),
            tlsCertificatePath: tlsCertificate ?? Environment.value("DELTASYNC_TLS_CERT"),
            tlsKeyPath: tlsKey ?? Environment.value("DELTASYNC_TLS_KEY"),
            insecureNoAuth: insecureNoAuth,
            logLevel: level,
            failpoints: failpoints,
            maxConcurrentUploads: Int(
                try concurrent.map { try Self.checked($0, in: 1...100_000, "--max-concurrent-uploads") }
                    ?? Int64(ServerConfiguration.defaultMaxConcurrentUploads)),
            minFreeBytes: try minFree.map { try Self.checked($0, in: 1...(1 << 30), "--min-free-mb") << 20 } ?? 256
                << 20
        )
        if let value = try heartbeatSeconds ?? Environment.integer("DELTASYNC_HEARTBEAT_SECS") {
            configuration.heartbeatSeconds = Double(try Self.checked(value, in: 1...3600, "--heartbeat-secs"))
        }
        configuration.codeGraph = graph && Environment.value("DELTASYNC_GRAPH") != "0"
        if let value = try maxSubscribers ?? Environment.integer("DELTASYNC_MAX_SUBSCRIBERS") {
            configuration.maxSubscribers = Int(try Self.checked(value, in: 1...1_000_000, "--max-subscribers"))
        }
        if let value = try shutdownGraceSeconds ?? Environment.integer("DELTASYNC_SHUTDOWN_GRACE_SECS") {
            configuration.shutdownGraceSeconds = Int(try Self.checked(value, in: 0...3600, "--shutdown-grace-secs"))
        }
        if let value = try retainChanges ?? Environment.integer("DELTASYNC_RETAIN_CHANGES") {
            configuration.retainChanges = try Self.checked(value, in: 1...Int64.max, "--retain-changes")
        }
        return configuration
    }

    private static func checked(_ value: Int64, in range: ClosedRange<Int64>, _ name: String) throws -> Int64 {
        guard range.contains(value) else {
            throw ValidationError("\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }
}
