import ArgumentParser
import DeltaCore
import DeltaServer
import Foundation
import Logging

/// `deltasync compact`: trims a workspace's change log to its newest entries.
struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Keep only the newest N change-log entries of a workspace.",
        discussion: """
            Compacted entries keep their bundle id, sequence and counts, so a replayed bundle is \
            still recognised; their operations are dropped. Followers whose cursor is older get \
            410 HISTORY_COMPACTED and start again from the manifest (deltasync pull does so by \
            itself). Never compacts past what is materialised. Safe while the server runs.
            """
    )

    @Option(help: "Workspace key")
    var workspace: String

    @Option(help: "How many of the newest entries to keep")
    var keep: Int64

    @OptionGroup var work: WorkDirectoryOption

    func validate() throws {
        guard keep >= 1 else { throw ValidationError("--keep must be at least 1") }
    }

    func run() async throws {
        CommandOutput.bootstrapLogging(level: .warning)
        do {
            let result = try await DeltaServer.compact(
                workDirectory: work.resolved, workspace: workspace, keep: keep)
            print(
                "compacted workspace '\(workspace)': \(result.compacted) entries trimmed, the log now starts at "
                    + "sequence \(result.firstRetained)")
        } catch let error as DeltaError {
            throw ValidationError(error.message)
        }
    }
}
