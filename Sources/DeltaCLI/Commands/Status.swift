import ArgumentParser
import DeltaClient
import DeltaCore
import Foundation

/// `deltasync status DIR`: local and server sequence, pending outbox bundles, last error.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the sync state of DIR: acknowledged and server sequence, pending bundles, last error."
    )

    @OptionGroup var options: ClientOptions

    func validate() throws { try options.validateWorkspace() }

    func run() async throws {
        let root = try options.root
        let token = try options.resolvedToken()
        var read: ClientStatus?
        try await CommandOutput.reportingErrors {
            read = try await ClientStatus.read(
                root: root, stateDirectory: options.stateDirectory(root: root), serverURL: options.serverURL,
                workspaceName: options.workspace, token: token
            )
        }
        guard let report = read else { return }
        if options.json {
            try CommandOutput.printJSON(report)
            return
        }
        print("workspace:          \(report.workspace ?? "(never pushed)")")
        print("server:             \(report.server)")
        if let kind = report.serverKind {
            let note = kind == .compatibleCore ? " (no manifest: another writer's changes are invisible)" : ""
            print("server kind:        \(kind.rawValue)\(note)")
        }
        print("acknowledged:       \(report.ackedSequence)")
        print(
            "server sequence:    \(report.serverSequence.map(String.init) ?? "unreachable: \(report.serverError ?? "")")"
        )
        print("pending bundles:    \(report.pendingBundles) (\(ByteCount.format(report.pendingBytes)))")
        print("in sync:            \(report.idle ? "yes" : "no")")
        if let last = report.lastPushAt { print("last push:          \(last)") }
        if let error = report.lastError { print("last error:         \(error)") }
        if let warning = report.warning { print("warning:            \(warning)") }
        if !report.conflicts.isEmpty {
            print(
                "conflicts:          \(report.conflicts.count) local edit(s) kept aside by pull (remove a copy once resolved)"
            )
            for conflict in report.conflicts {
                print("  \(conflict.path) -> \(conflict.keptAs) (server sequence \(conflict.sequence))")
            }
        }
    }
}
