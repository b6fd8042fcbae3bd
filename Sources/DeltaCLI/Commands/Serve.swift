import ArgumentParser
import DeltaCore
import DeltaServer
import Foundation
import Logging
import NIOCore

/// `deltasync serve`: runs the upload server.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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
        if let value = try maxBundleSizeMb ?? Environment.integer("DELTASYNC_MAX_BUNDLE_SIZE_MB", "MAX_BUNDLE_SIZE_MB")
        {
            limits.maxCompressedBytes = value << 20
        }
        if let value = try maxUncompressedMb ?? Environment.integer("DELTASYNC_MAX_UNCOMPRESSED_MB") {
            limits.maxUncompressedBytes = value << 20
        }
        if let value = try maxFileMb ?? Environment.integer("DELTASYNC_MAX_FILE_MB") {
            limits.maxFileBytes = value << 20
        }
        if let value = try maxEntries.map(Int64.init) ?? Environment.integer("DELTASYNC_MAX_ENTRIES") {
            limits.maxEntries = Int(value)
        }
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
            guard let point = Failpoints.Point(rawValue: name) else {
                throw ValidationError(
                    "DELTASYNC_FAILPOINT must be one of \(Failpoints.Point.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            failpoints.exitAt = point
        }
        return ServerConfiguration(
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
            failpoints: failpoints
        )
    }
}
