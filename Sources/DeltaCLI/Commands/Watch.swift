import ArgumentParser
import DeltaClient
import DeltaCore
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `deltasync watch DIR`: keeps the server's copy in step with DIR continuously.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch DIR and upload every change within milliseconds (inotify; --poll for network filesystems)."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var compression: CompressionOption

    @Option(help: "Poll every N milliseconds instead of using inotify (for filesystems where inotify does not work)")
    var poll: Int?

    @Option(help: "Quiet period before a batch is sent, in milliseconds. Default 10")
    var quietMs = 10

    @Option(help: "Longest a change waits for its batch, in milliseconds. Default 200")
    var maxDelayMs = 200

    @Option(help: "trace, debug, info, notice, warning, error. Default info")
    var logLevel: String = "info"

    @Option(help: "text or json (one JSON object per line). Default text")
    var logFormat: String = "text"

    func validate() throws {
        try options.validateWorkspace()
        guard quietMs >= 0, maxDelayMs >= quietMs else {
            throw ValidationError("need 0 <= --quiet-ms <= --max-delay-ms")
        }
        if let poll, poll < 10 { throw ValidationError("--poll must be at least 10 ms") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
    }

    func run() async throws {
        let root = try options.root
        let level = Logger.Level(rawValue: logLevel) ?? .info
        CommandOutput.bootstrapLogging(level: level, json: logFormat == "json")
        let logger = Logger(label: "deltasync.watch")
        var push = PushConfiguration(
            root: root, serverURL: options.serverURL, workspaceName: options.workspace,
            token: try options.resolvedToken(),
            stateDirectory: options.stateDirectory(root: root),
            retry: RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(2))
        )
        push.compression = compression.value
        try await CommandOutput.reportingErrors {
            let session = try WatchSession(
                configuration: .init(
                    push: push, pollInterval: poll.map { .milliseconds($0) }, quietPeriod: .milliseconds(quietMs),
                    maxDelay: .milliseconds(maxDelayMs)
                ),
                logger: logger
            )
            let group = ServiceGroup(
                configuration: .init(services: [session], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            )
            try await group.run()
        }
    }
}

/// One JSON object per log line on stderr: `{"ts","level","label","message",...metadata}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: String] = [
            "ts": RFC3339.string(), "level": event.level.rawValue, "label": label,
            "message": event.message.description,
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = "\(value)"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let data = try? encoder.encode(object) {
            FileHandle.standardError.write(data + Data("\n".utf8))
        }
    }
}
