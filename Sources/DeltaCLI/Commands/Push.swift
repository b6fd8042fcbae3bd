import ArgumentParser
import DeltaClient
import DeltaCore
import Foundation
import Logging

/// `deltasync push DIR`: makes the server's copy equal to DIR, sending only what changed.
struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Upload what changed in DIR since the last push (created, updated, deleted, moved files)."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var compression: CompressionOption

    @Option(help: "Retries for network errors, 429 and 5xx (env: REMOTE_UPLOAD_MAX_RETRIES). Default 5")
    var maxRetries: Int?

    @Option(help: "Seconds per request before it is abandoned and retried (env: REMOTE_UPLOAD_TIMEOUT). Default 120")
    var timeout: Int?

    @Option(help: "trace, debug, info, notice, warning, error. Default warning")
    var logLevel: String = "warning"

    func validate() throws { try options.validateWorkspace() }

    func run() async throws {
        let root = try options.root
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        CommandOutput.bootstrapLogging(level: level)
        let retries = try maxRetries ?? Environment.integer("REMOTE_UPLOAD_MAX_RETRIES").map(Int.init) ?? 5
        let seconds = try timeout.map(Int64.init) ?? Environment.integer("REMOTE_UPLOAD_TIMEOUT") ?? 120
        var configuration = PushConfiguration(
            root: root, serverURL: options.serverURL, workspaceName: options.workspace,
            token: try options.resolvedToken(),
            stateDirectory: options.stateDirectory(root: root), retry: RetryPolicy(maxRetries: retries),
            requestTimeout: .seconds(seconds)
        )
        configuration.compression = compression.value
        configuration.listsSkipped = true
        let display = ProgressDisplay(enabled: !options.json)
        let session = PushSession(configuration: configuration, logger: Logger(label: "deltasync.push")) { progress in
            display.show(progress)
        }
        do {
            let report = try await session.run()
            display.finish()
            if options.json {
                try CommandOutput.printJSON(report)
            } else {
                print(Self.summary(report))
            }
        } catch let error as DeltaError {
            display.finish()
            if options.json {
                try CommandOutput.printJSON(ErrorEnvelope(error))
            }
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode.failure
        }
    }

    static func summary(_ report: PushReport) -> String {
        if report.viaWatch {
            return "\(report.workspace) is up to date at sequence \(report.sequence): the running deltasync watch "
                + "had sent everything (answered in " + String(format: "%.0f ms)", report.durationMilliseconds)
        }
        var lines = [
            "pushed \(report.workspace) to sequence \(report.sequence): \(report.created) created, \(report.updated) updated, "
                + "\(report.deleted) deleted, \(report.moved) moved in \(report.bundles) bundle(s), "
                + "\(ByteCount.format(report.bytesSent)) sent, \(report.filesScanned) files scanned in "
                + String(format: "%.0f ms", report.durationMilliseconds)
        ]
        if report.unchangedSinceSnapshot {
            lines.append("nothing changed since the last full scan (every file and directory has the stat it had)")
        } else if report.changedSinceSnapshot {
            lines.append("only files edited in place were read (no directory changed since the last full scan)")
        }
        if report.resynced { lines.append("reconciled with the server's copy (state was missing or out of date)") }
        for skipped in report.skipped.prefix(20) { lines.append("skipped \(skipped.path): \(skipped.reason)") }
        if report.skipped.count > 20 { lines.append("… and \(report.skipped.count - 20) more skipped") }
        return lines.joined(separator: "\n")
    }
}
