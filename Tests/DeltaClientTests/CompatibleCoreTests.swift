import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

@testable import DeltaClient

/// `push` and `watch` against a server with only the compatible core (the existing upload
/// service's wire behaviour, `CompatibleCoreServer`): no manifest, `200` errors, server-assigned
/// sequences, no bundle-id dedupe. Every scenario ends with the service's tree equal to the
/// directory, byte for byte and mode.
@Suite struct CompatibleCoreTests {
    static func configuration(_ tree: WorkspaceTree, _ server: CompatibleCoreServer) -> PushConfiguration {
        PushConfiguration(
            root: tree.root, serverURL: server.baseURL,
            retry: RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200)))
    }

    @discardableResult
    static func push(_ tree: WorkspaceTree, _ server: CompatibleCoreServer) async throws -> PushReport {
        try await PushSession(configuration: configuration(tree, server), logger: PushTest.logger).run()
    }

    static func expectInSync(
        _ tree: WorkspaceTree, _ server: CompatibleCoreServer, ignoring: Set<String> = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let local = try WorkspaceTree.snapshot(tree.root, excluding: [".deltasync"]).filter {
            !ignoring.contains($0.key)
        }
        let remote = try WorkspaceTree.snapshot(server.tree(for: tree.root)).filter { !ignoring.contains($0.key) }
        #expect(
            local == remote,
            "\(WorkspaceTree.differences(local: local, remote: remote))",
            sourceLocation: sourceLocation)
    }

    /// Our extensions are never asked for: the client knows the kind from `server_info`.
    static func expectCoreOnly(_ server: CompatibleCoreServer, sourceLocation: SourceLocation = #_sourceLocation) {
        let extensions = server.requests.filter { !$0.hasSuffix("/delta/status") && !$0.hasSuffix("/delta/upload") }
        #expect(extensions.isEmpty, "asked for \(extensions)", sourceLocation: sourceLocation)
    }

    /// The stand-in itself answers as the table in the drop-in issue says the service does.
    @Test func theStandInAnswersLikeTheService() async throws {
        try await withTemporaryDirectory("core-wire") { directory in
            try await CompatibleCoreServer.with(directory: directory.sub("service")) { server in
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace_path=/w/app")
                #expect(status.status == 200)
                #expect(
                    Set(status.json.keys) == [
                        "workspace_path", "collection_name", "last_sequence", "last_upload", "pending_operations",
                        "status", "server_info",
                    ])
                #expect(status.json["last_upload"] == .null)
                let manifest = try await HTTP.get(server.baseURL + "/api/v1/delta/manifest?workspace_path=/w/app")
                #expect(manifest.status == 404 && manifest.json["detail"] == .string("Not Found"))

                let tree = try WorkspaceTree(root: directory.sub("ws"))
                let path = try tree.write("bundle-src.txt", "x")
                let bundle = directory.sub("b.tar.gz")
                try BundleWriter().write(
                    to: bundle, bundleID: "b1", workspacePath: "/w/app", sequenceNumber: nil,
                    entries: [
                        BundleWriter.Entry(
                            operation: BundleOperation(operation: .created, path: "x.txt"),
                            content: .file(path: path, size: 1))
                    ])
                let api = DeltaAPI(baseURL: server.baseURL, token: nil)
                let workspace = WorkspaceReference(name: nil, path: "/w/app")
                guard
                    case .sequenceMismatch(let expected) = try await api.upload(
                        bundleAt: bundle, workspace: workspace, sequence: 5)
                else { throw DeltaError(.internalError, "a wrong sequence was accepted") }
                #expect(expected == 1)
                #expect(server.appliedUploads == 0)
                guard
                    case .applied(let reply) = try await api.upload(
                        bundleAt: bundle, workspace: workspace, sequence: nil)
                else { throw DeltaError(.internalError, "no sequence was refused") }
                #expect(reply.sequenceNumber == 1 && reply.nextSequence == 2 && !reply.duplicate)
                // No bundle-id dedupe: the same bundle again is a new sequence.
                guard
                    case .applied(let again) = try await api.upload(
                        bundleAt: bundle, workspace: workspace, sequence: nil)
                else { throw DeltaError(.internalError, "the repeat was refused") }
                #expect(again.sequenceNumber == 2)
                // force sets the counter to the number sent.
                guard
                    case .applied(let forced) = try await api.upload(
                        bundleAt: bundle, workspace: workspace, sequence: 9, force: true)
                else { throw DeltaError(.internalError, "force was refused") }
                #expect(forced.sequenceNumber == 9 && server.lastSequence(for: "/w/app") == 9)
            }
        }
    }

    @Test func pushConvergesThroughCreatesEditsRenamesAndDeletes() async throws {
        try await withTemporaryDirectory("core-push") { directory in
            try await CompatibleCoreServer.with(directory: directory.sub("service")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try tree.write("src/b.swift", "let b = 1\n")
                try tree.write("bin/run.sh", "#!/bin/sh\n", mode: 0o755)
                let first = try await Self.push(tree, server)
                #expect(first.serverKind == .compatibleCore && first.sequence == 1)
                try Self.expectInSync(tree, server)

                try tree.write("a.txt", "edited")
                try tree.move("src/b.swift", "src/renamed.swift")
                tree.remove("bin/run.sh")
                try tree.write("docs/new.md", "# new\n")
                let second = try await Self.push(tree, server)
                #expect(second.moved == 1 && second.updated == 1 && second.deleted == 1 && second.created == 1)
                #expect(second.sequence == server.lastSequence(for: tree.root))
                try Self.expectInSync(tree, server)

                let nothing = try await Self.push(tree, server)
                #expect(nothing.bundles == 0 && nothing.sequence == second.sequence)
                Self.expectCoreOnly(server)
                #expect(server.forcedUploads == 0)
            }
        }
    }

    /// The service applies the bundle, then the connection drops before the reply. The retry is
    /// refused as a sequence mismatch (no bundle-id dedupe there); the client re-sends what is
    /// unacknowledged as one idempotent bundle with `force=true` and adopts the sequence.
    @Test func aLostReplyIsRecoveredWithOneForcedIdempotentBundle() async throws {
        try await withTemporaryDirectory("core-lost") { directory in
            try await CompatibleCoreServer.with(directory: directory.sub("service")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("keep.txt", "keep")
                try tree.write("old/name.txt", "moved content")
                try tree.write("gone.txt", "to delete")
                try await Self.push(tree, server)

                try tree.move("old/name.txt", "new/name.txt")
                tree.remove("gone.txt")
                try tree.write("keep.txt", "kept and edited")
                try tree.write("fresh.txt", "fresh")
                server.dropRepliesAfterApplying(1)
                let report = try await Self.push(tree, server)
                try Self.expectInSync(tree, server)
                #expect(server.forcedUploads == 1)
                #expect(report.sequence == server.lastSequence(for: tree.root))
                #expect(try ClientState(directory: tree.root + "/.deltasync").pending().isEmpty)
                Self.expectCoreOnly(server)

                // And it keeps going normally afterwards.
                try tree.write("after.txt", "after")
                let next = try await Self.push(tree, server)
                #expect(next.sequence == report.sequence + 1)
                try Self.expectInSync(tree, server)
            }
        }
    }

    @Test func aClientKilledAfterWritingItsOutboxConverges() async throws {
        try await withTemporaryDirectory("core-killed") { directory in
            try await CompatibleCoreServer.with(directory: directory.sub("service")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try tree.write("b/c.txt", "c")
                let killed = try await ServerProcess.run(
                    ["push", tree.root, "--server", server.baseURL],
                    environment: ["DELTASYNC_CLIENT_FAILPOINT": "after-outbox"])
                #expect(killed.status == 137)
                #expect(server.appliedUploads == 0)
                try tree.move("b/c.txt", "b/d.txt")
                let again = try await ServerProcess.run(["push", tree.root, "--server", server.baseURL, "--json"])
                #expect(again.status == 0, "\(again.stderr)")
                let report = try JSONDecoder().decode(PushReport.self, from: Data(again.stdout.utf8))
                #expect(report.sequence == 2 && report.serverKind == .compatibleCore)
                try Self.expectInSync(tree, server)
                let status = try await ServerProcess.run(["status", tree.root, "--server", server.baseURL, "--json"])
                let decoded = try JSONDecoder().decode(ClientStatus.self, from: Data(status.stdout.utf8))
                #expect(decoded.idle && decoded.serverKind == .compatibleCore)
                #expect(status.stdout.contains("\"server_kind\":\"compatible-core\""))
                Self.expectCoreOnly(server)
            }
        }
    }

    /// Lost state: no manifest to compare with, so every file goes up again with `force=true`;
    /// a file deleted while the state was gone stays on the server, and `status` says so.
    @Test func lostClientStateReuploadsEverythingAndWarns() async throws {
        try await withTemporaryDirectory("core-state") { directory in
            try await CompatibleCoreServer.with(directory: directory.sub("service")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try tree.write("orphan.txt", "deleted while the state was lost")
                try await Self.push(tree, server)
                tree.remove(".deltasync")
                tree.remove("orphan.txt")
                try tree.write("a.txt", "edited meanwhile")
                let report = try await Self.push(tree, server)
                #expect(report.resynced && report.created == 1 && report.sequence == 2)
                #expect(server.forcedUploads == 1)
                try Self.expectInSync(tree, server, ignoring: ["orphan.txt"])
                let remote = try WorkspaceTree.snapshot(server.tree(for: tree.root))
                #expect(remote["orphan.txt"] != nil, "files only on the server stay there")
                let status = try await ServerProcess.run(["status", tree.root, "--server", server.baseURL])
                #expect(status.stdout.contains("files that exist only on the server stay there"), "\(status.stdout)")
                #expect(status.stdout.contains("compatible-core"))
                Self.expectCoreOnly(server)
            }
        }
    }

    /// Another writer moves the service's counter on: its changes cannot be seen without a
    /// manifest, so the client adopts the sequence, warns, and its own changes still land.
    @Test func anotherWriterIsAdoptedWithAWarning() async throws {
        try await withTemporaryDirectory("core-writer") { directory in
            try await CompatibleCoreServer.with(directory: directory.sub("service")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("a.txt", "a")
                try await Self.push(tree, server)
                server.setSequence(7, for: tree.root)
                try tree.write("b.txt", "b")
                let report = try await Self.push(tree, server)
                #expect(report.sequence == 8)
                try Self.expectInSync(tree, server)
                let state = try ClientState(directory: tree.root + "/.deltasync").syncState()
                #expect(state.warning?.contains("another writer's changes are invisible") == true)
                Self.expectCoreOnly(server)
            }
        }
    }

    @Test func watchConvergesIncludingALostReply() async throws {
        try await withTemporaryDirectory("core-watch") { directory in
            try await CompatibleCoreServer.with(directory: directory.sub("service")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("before.txt", "made before the watcher started")
                try await WatchTests.watching(Self.configuration(tree, server)) { session in
                    await WatchTests.settle(session)
                    try Self.expectInSync(tree, server)

                    try tree.write("a.txt", "a")
                    try tree.write("src/b.swift", "b")
                    await WatchTests.settle(session)
                    try Self.expectInSync(tree, server)

                    try tree.write("a.txt", "edited")
                    tree.remove("before.txt")
                    try tree.move("src/b.swift", "src/renamed.swift")
                    await WatchTests.settle(session)
                    try Self.expectInSync(tree, server)

                    server.dropRepliesAfterApplying(1)
                    try tree.write("lost/reply.txt", "applied, reply lost")
                    try tree.move("a.txt", "lost/a.txt")
                    await WatchTests.settle(session)
                    try Self.expectInSync(tree, server)
                    #expect(server.forcedUploads == 1)

                    let status = await session.quiescentStatus()
                    #expect(status.serverKind == .compatibleCore && status.idle)
                    #expect(status.serverSequence == server.lastSequence(for: tree.root))
                }
                Self.expectCoreOnly(server)
            }
        }
    }
}
