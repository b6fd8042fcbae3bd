import ArgumentParser
import DeltaClient
import DeltaCore
import Foundation
import Logging

/// `deltasync pull DIR --workspace NAME [--follow]`: keeps a local replica of a workspace.
struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Make DIR a replica of a workspace on the server; with --follow, keep it one.",
        discussion: """
            Bootstraps from the manifest, then applies the change feed (or, with --follow, the live \
            stream). Files are written atomically with their exec bit; the cursor is kept in \
            DIR/.deltasync, so a pull resumes after restarts and dropped connections and starts \
            again from the manifest when the server compacted its log past it. A local edit is \
            never overwritten silently: it is renamed to NAME.deltasync-conflict-<sequence> first.
            """
    )

    @OptionGroup var options: ClientOptions

    @Flag(help: "Keep following the live stream until interrupted")
    var follow = false

    @Option(help: "trace, debug, info, notice, warning, error. Default warning")
    var logLevel: String = "warning"

    func validate() throws {
        try options.validateWorkspace()
        guard options.workspace != nil else { throw ValidationError("pull needs --workspace NAME") }
    }

    func run() async throws {
        let absolute =
            options.directory.hasPrefix("/")
            ? options.directory : FileManager.default.currentDirectoryPath + "/" + options.directory
        try FileSystem.createDirectory(absolute)
        let root = try options.root
        CommandOutput.bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .warning)
        let configuration = PullConfiguration(
            root: root, serverURL: options.serverURL, workspace: options.workspace ?? "",
            token: try options.resolvedToken(), stateDirectory: options.stateDirectory(root: root))
        let json = options.json
        try await CommandOutput.reportingErrors {
            let session = try PullSession(configuration: configuration, logger: Logger(label: "deltasync.pull"))
            if follow {
                try await session.follow { report in
                    guard !json else { return }
                    FileHandle.standardError.write(
                        Data(
                            "at sequence \(report.sequence): \(report.filesWritten) written, \(report.filesDeleted) deleted\n"
                                .utf8))
                }
                return
            }
            let report = try await session.run()
            if json {
                try CommandOutput.printJSON(report)
            } else {
                print(
                    "pulled \(configuration.workspace) to sequence \(report.sequence): \(report.filesWritten) written, "
                        + "\(report.filesDeleted) deleted, \(ByteCount.format(report.bytes)) in "
                        + String(format: "%.0f ms", report.durationMilliseconds)
                        + (report.rebootstrapped ? " (from the manifest)" : ""))
                for conflict in report.conflicts { print("kept a local edit aside as \(conflict)") }
            }
        }
    }
}
