import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// DESIGN §1.2 and §7 "Sequences".
@Suite struct SequenceTests {
    @Test func duplicateBundleIDReturnsTheOriginalResult() async throws {
        try await withTemporaryDirectory("dup") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let bundle = try TestBundle.simple(bundleID: "same-id", files: ["a.txt": "A"])
                let first = try await ServerTest.upload(server, bundle)
                #expect(first.status == 200)
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["b.txt": "B"])).status == 200)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                // Retried, even with force and a stale sequence: nothing applied twice.
                let retry = try await ServerTest.upload(server, bundle, sequence: 1, force: "true")
                #expect(retry.status == 200)
                #expect(retry.json["duplicate"] == .bool(true))
                #expect(retry.json["sequence_number"]?.intValue == 1)
                #expect(retry.json["next_sequence"]?.intValue == 3)
                #expect(try retry.decode(UploadResponse.self).processedOperations.created == 1)
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)

                let conflicting = try TestBundle.simple(bundleID: "same-id", files: ["a.txt": "different"])
                let conflict = try await ServerTest.upload(server, conflicting)
                #expect(conflict.status == 409)
                #expect(conflict.errorCode == "BUNDLE_ID_CONFLICT")
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
            }
        }
    }

    /// What an upload checks and plans with comes from one read: the workspace, a replayed
    /// bundle's entry, the bundle at the last sequence (for `previous_bundle_id`) and the
    /// file-table rows its operations name — the same as the separate reads give, also once the
    /// log is compacted.
    @Test func theUploadContextIsTheLogsState() async throws {
        try await withTemporaryDirectory("context") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let storage = server.prepared.storage
                let query = FileTableQuery(paths: [PathKey("a.txt"), PathKey("c.txt")], directories: [PathKey("d")])
                let empty = try await storage.uploadContext(workspace: "ws", bundleID: "first", files: query)
                #expect(empty.workspace == nil && empty.existing == nil && empty.lastBundleID == nil)
                #expect(empty.files.files.isEmpty && empty.files.below.isEmpty)
                for (id, file) in [("first", "a.txt"), ("second", "b.txt")] {
                    #expect(
                        try await ServerTest.upload(server, TestBundle.simple(bundleID: id, files: [file: id])).status
                            == 200)
                }
                let replay = try await storage.uploadContext(workspace: "ws", bundleID: "first", files: query)
                #expect(replay.workspace?.lastSequence == 2)
                let current = try await storage.files(workspace: "ws", paths: ["a.txt", "c.txt"])
                #expect(replay.files.files == current && Set(replay.files.files.keys) == [PathKey("a.txt")])
                // Without a directory the few rows are read on the calling thread: the same answer.
                let inline = try await storage.uploadContext(
                    workspace: "ws", bundleID: "first", files: FileTableQuery(paths: query.paths))
                #expect(inline.files.files == current && inline.lastBundleID == "second")
                #expect(replay.existing == (try await storage.change(workspace: "ws", bundleID: "first")))
                #expect(replay.lastBundleID == "second")
                _ = try await storage.compact(workspace: "ws", before: 3)
                let compacted = try await storage.uploadContext(
                    workspace: "ws", bundleID: "new", files: FileTableQuery())
                #expect(compacted.existing == nil && compacted.lastBundleID == "second")
            }
        }
    }

    @Test func gapStaleAndForcedSequences() async throws {
        try await withTemporaryDirectory("seq") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["a": "1"]), sequence: 1).status == 200
                )
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["b": "2"]), sequence: 2).status == 200
                )
                let before = try await ServerTest.snapshot(server, workspace: "ws")

                let gap = try await ServerTest.upload(server, TestBundle.simple(files: ["c": "3"]), sequence: 5)
                #expect(gap.status == 409)
                #expect(gap.errorCode == "SEQUENCE_MISMATCH")
                guard case .object(let error)? = gap.json["error"] else { Issue.record("no error object"); return }
                #expect(error["expected_sequence"]?.intValue == 3)
                #expect(error["received_sequence"]?.intValue == 5)

                let stale = try await ServerTest.upload(server, TestBundle.simple(files: ["c": "3"]), sequence: 2)
                #expect(stale.status == 409)
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)

                // The manifest's own sequence_number counts when the form has none.
                let fromManifest = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["m": "m"], sequence: 9))
                #expect(fromManifest.status == 409)

                let forced = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["c": "3"]), sequence: 42, force: "True")
                #expect(forced.status == 200)
                #expect(forced.json["sequence_number"]?.intValue == 3)  // last+1, never the number sent
                let assigned = try await ServerTest.upload(server, TestBundle.simple(files: ["d": "4"]))
                #expect(assigned.json["sequence_number"]?.intValue == 4)
            }
        }
    }

    @Test(arguments: ["0", "-3", "abc", "1.5"])
    func invalidSequenceNumbersAreRejected(_ value: String) async throws {
        try await withTemporaryDirectory("badseq") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let reply = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["a": "1"]), extra: [("sequence_number", value)]
                )
                #expect(reply.status == 400)
                #expect(reply.errorCode == "INVALID_REQUEST")
                #expect(try await ServerTest.snapshot(server, workspace: "ws").lastSequence == 0)
            }
        }
    }

    @Test func forceAcceptsTheExistingSpellings() async throws {
        try await withTemporaryDirectory("force") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                for (index, spelling) in ["true", "1", "True", "false", "0", "False"].enumerated() {
                    let reply = try await ServerTest.upload(
                        server, TestBundle.simple(files: ["f\(index)": "x"]), sequence: Int64(index + 1),
                        force: spelling
                    )
                    #expect(reply.status == 200, "force=\(spelling)")
                }
                let bad = try await ServerTest.upload(server, TestBundle.simple(files: ["z": "z"]), force: "yes")
                #expect(bad.status == 400)
            }
        }
    }

    @Test func concurrentUploadsToOneWorkspaceGetContiguousSequences() async throws {
        try await withTemporaryDirectory("concurrent") { directory in
            // Room for all twelve at once (the default cap of 2 × cores would answer some 503).
            try await TestServer.with(workDirectory: directory.path, configure: { $0.maxConcurrentUploads = 16 }) {
                server in
                let count = 12
                let replies = try await withThrowingTaskGroup(of: (String, HTTPReply).self) { group in
                    for index in 0..<count {
                        group.addTask {
                            let id = "bundle-\(index)"
                            let bundle = try TestBundle.simple(
                                bundleID: id, files: ["file\(index).txt": "content \(index)"])
                            return (id, try await ServerTest.upload(server, bundle))
                        }
                    }
                    var all: [(String, HTTPReply)] = []
                    for try await reply in group { all.append(reply) }
                    return all
                }
                #expect(replies.allSatisfy { $0.1.status == 200 })
                let sequences = replies.compactMap { $0.1.json["sequence_number"]?.intValue }.sorted()
                #expect(sequences == Array(1...Int64(count)))
                let log = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws").decode(
                    ChangesResponse.self)
                #expect(log.changes.map(\.sequence) == Array(1...Int64(count)))
                for (id, reply) in replies {
                    let sequence = reply.json["sequence_number"]?.intValue
                    #expect(log.changes.first { $0.bundleID == id }?.sequence == sequence)
                }
                #expect(try await ServerTest.manifestTree(server, workspace: "ws").tree.count == count)
            }
        }
    }

    @Test func differentWorkspacesProceedInParallel() async throws {
        try await withTemporaryDirectory("parallel") { directory in
            let gate = Gate()
            try await TestServer.with(
                workDirectory: directory.path,
                configure: { configuration in
                    configuration.failpoints.hook = { point, workspace in
                        if point == .afterBlobs && workspace == "parked" { await gate.park() }
                    }
                }
            ) { server in
                async let parked = ServerTest.upload(server, TestBundle.simple(files: ["p": "p"]), workspace: "parked")
                await gate.waitUntilParked()
                // While "parked" sits inside its apply, another workspace completes.
                let other = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["o": "o"]), workspace: "other")
                #expect(other.status == 200)
                #expect(try await ServerTest.snapshot(server, workspace: "parked").lastSequence == 0)
                await gate.release()
                let reply = try await parked
                #expect(reply.status == 200)
                #expect(try await ServerTest.snapshot(server, workspace: "parked").lastSequence == 1)
            }
        }
    }
}

extension SequenceTests {
    /// Runs `body` against a server whose first bundle's copy, once made, waits (holding the
    /// copy's lock) until `gate` is released.
    static func parkingTheFirstCopy(
        _ label: String, _ body: @Sendable (TestServer, Gate, String) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory(label) { directory in
            let gate = Gate()
            let first = FirstTime()
            try await TestServer.with(
                workDirectory: directory.path,
                configure: { configuration in
                    configuration.failpoints.hook = { point, _ in
                        if point == .afterMaterialise, first.take() { await gate.park() }
                    }
                }
            ) { server in try await body(server, gate, directory.path) }
        }
    }

    /// A bundle commits while the copy of the one before it is still being made: the
    /// workspace's lock is let go at the commit. The copies follow one at a time in commit
    /// order, and each reply waits for its own copy.
    @Test func aBundleCommitsWhileTheCopyOfTheOneBeforeIsMade() async throws {
        try await Self.parkingTheFirstCopy("copy-pipeline") { server, gate, directory in
            let copy = directory + "/workspaces/ws"
            async let one = ServerTest.upload(server, TestBundle.simple(files: ["one.txt": "1"]), sequence: 1)
            // The first bundle's copy is made, and it waits there holding the copy's lock.
            await gate.waitUntilParked()
            #expect(FileManager.default.fileExists(atPath: copy + "/one.txt"))
            async let two = ServerTest.upload(server, TestBundle.simple(files: ["two.txt": "2"]), sequence: 2)
            var sequence: Int64 = 0
            for _ in 0..<2_000 where sequence < 2 {
                sequence = try await ServerTest.snapshot(server, workspace: "ws").lastSequence ?? 0
                if sequence < 2 { try await Task.sleep(for: .milliseconds(10)) }
            }
            // The second committed, and its copy waits for the first's.
            #expect(sequence == 2)
            #expect(!FileManager.default.fileExists(atPath: copy + "/two.txt"))
            await gate.release()
            #expect(try await one.status == 200)
            #expect(try await two.status == 200)
            #expect(FileManager.default.fileExists(atPath: copy + "/two.txt"))
            try await HardeningTests.expectHealthy(server)
        }
    }

    /// A bundle sent again (its first reply lost) is answered like the first: once its copy is
    /// made. The copy's lock is held here (parked after the copy), so the repeat must wait.
    @Test func aBundleSentAgainIsAnsweredOnceItsCopyIsMade() async throws {
        try await Self.parkingTheFirstCopy("copy-duplicate") { server, gate, _ in
            let bundle = try TestBundle.simple(files: ["one.txt": "1"])
            async let one = ServerTest.upload(server, bundle, sequence: 1)
            await gate.waitUntilParked()
            async let again = ServerTest.upload(server, bundle, sequence: 1)
            // Counted while it waits for the copy's lock (answered at once, it never is).
            for _ in 0..<2000 where server.counters.uploadsWaiting == 0 {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(server.counters.uploadsWaiting == 1, "the repeat waits for the copy")
            await gate.release()
            #expect(try await one.status == 200)
            let repeated = try await again
            #expect(repeated.status == 200)
            #expect(repeated.json["duplicate"] == .bool(true))
            #expect(repeated.json["sequence_number"] == .int(1))
            #expect(server.counters.uploadsWaiting == 0)
            try await HardeningTests.expectHealthy(server)
        }
    }
}

/// Parks one task until released, and lets another wait until it is parked.
actor Gate {
    private var parked: CheckedContinuation<Void, Never>?
    private var watchers: [CheckedContinuation<Void, Never>] = []
    private var isParked = false

    func park() async {
        await withCheckedContinuation { continuation in
            parked = continuation
            isParked = true
            for watcher in watchers { watcher.resume() }
            watchers.removeAll()
        }
    }

    func waitUntilParked() async {
        if isParked { return }
        await withCheckedContinuation { watchers.append($0) }
    }

    func release() {
        parked?.resume()
        parked = nil
    }
}
