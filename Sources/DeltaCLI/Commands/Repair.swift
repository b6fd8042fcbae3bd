import ArgumentParser
import DeltaCore
import DeltaServer
import Foundation
import Logging

/// `deltasync repair`: rebuilds a workspace's materialised copy from the database.
struct Repair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Rebuild a workspace's copy (WORK_DIR/workspaces/<key>) from the database.",
        discussion: """
            The database is the truth; the copy on disk is derived from it. A workspace whose copy \
            could not be repaired at start-up is served read-only ("degraded" in /health and status) \
            and retried by the server every 30 s. Run this with the server stopped to rebuild one \
            by hand.
            """
    )

    @Option(help: "Workspace key to rebuild")
    var workspace: String

    @OptionGroup var work: WorkDirectoryOption

    func run() async throws {
        CommandOutput.bootstrapLogging(level: .warning)
        let started = ContinuousClock.now
        do {
            let files = try await DeltaServer.repair(
                workDirectory: work.resolved, workspace: workspace, logger: Logger(label: "deltasync.repair"))
            let elapsed = ContinuousClock.now - started
            print(
                "repaired workspace '\(workspace)': \(files) files written in \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds])))"
            )
        } catch let error as DeltaError {
            throw ValidationError(error.message)
        }
    }
}
