@testable import DeltaClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Logging
import Testing

enum PushTest {
    static var logger: Logger {
        var logger = Logger(label: "deltasync.test.push")
        logger.logLevel = .critical
        return logger
    }

    static func configuration(_ tree: WorkspaceTree, _ server: TestServer, workspace: String? = "ws")
        -> PushConfiguration
    {
        PushConfiguration(
            root: tree.root, serverURL: server.baseURL, workspaceName: workspace,
            retry: RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200))
        )
    }

    @discardableResult
    static func push(_ tree: WorkspaceTree, _ server: TestServer, workspace: String? = "ws") async throws -> PushReport
    {
        try await PushSession(configuration: configuration(tree, server, workspace: workspace), logger: logger).run()
    }

    /// The server's materialised copy equals the directory's synced set, byte for byte and mode.
    static func expectInSync(
        _ tree: WorkspaceTree, _ server: TestServer, workspace: String = "ws", ignoring: Set<String> = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let local = try WorkspaceTree.snapshot(tree.root, excluding: [".deltasync", ".git"]).filter {
            !ignoring.contains($0.key)
        }
        let remote = try WorkspaceTree.snapshot(server.configuration.workDirectory + "/workspaces/" + workspace)
        #expect(
            local == remote,
            "\(WorkspaceTree.differences(local: local, remote: remote))",
            sourceLocation: sourceLocation)
    }
}
