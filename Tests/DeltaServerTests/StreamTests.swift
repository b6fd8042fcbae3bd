import DeltaCore
import Foundation
import Testing

@testable import DeltaServer
@testable import DeltaTestSupport

/// The change feed and the live stream: backlog then live, resume without gap or duplicate,
/// `410` past retention, bounded subscribers, and streams that end cleanly.
@Suite struct StreamTests {
    static func streamURL(_ server: TestServer, since: Int64? = nil) -> String {
        server.baseURL + "/api/v1/delta/stream?workspace=ws" + (since.map { "&since=\($0)" } ?? "")
    }

    static func push(_ server: TestServer, _ count: Int, from start: Int = 0) async throws {
        for index in start..<(start + count) {
            let reply = try await ServerTest.upload(server, TestBundle.simple(files: ["f\(index).txt": "v\(index)"]))
            #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
        }
    }

    static func sequences(_ events: [ServerSentEvent]) -> [Int64] { events.compactMap { $0.id.flatMap { Int64($0) } } }

    @Test func backlogThenLiveChangesWithModesAndHeartbeats() async throws {
        try await withTemporaryDirectory("stream") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: { $0.heartbeatSeconds = 0.05 }) {
                server in
                try await Self.push(server, 3)
                let reader = try await EventStreamReader(url: Self.streamURL(server, since: 1))
                #expect(reader.status == 200)
                let backlog = try await reader.next(2)
                #expect(Self.sequences(backlog) == [2, 3])
                let entry = try JSONDecoder().decode(ChangeEntry.self, from: Data(backlog[0].data.utf8))
                #expect(entry.sequence == 2 && entry.operations.first?.path == "f1.txt")
                #expect(entry.operations.first?.mode == 0o644)
                try await Self.push(server, 1, from: 3)
                #expect(Self.sequences(try await reader.next(1)) == [4])
                // Heartbeats keep coming while nothing changes.
                let before = reader.heartbeatCount
                while reader.heartbeatCount < before + 2 { try await Task.sleep(for: .milliseconds(20)) }
                reader.close()

                // No cursor: from now on only.
                let fresh = try await EventStreamReader(url: Self.streamURL(server))
                try await Self.push(server, 1, from: 4)
                #expect(Self.sequences(try await fresh.next(1)) == [5])
                fresh.close()
            }
        }
    }

    /// A save's entry is encoded for the stream as it commits, not read back from the log: what a
    /// live subscriber receives is still exactly the log's entry, and a large bundle's entry
    /// (read from the log by the first subscriber) arrives whole too.
    @Test func liveEventsAreTheLogsEntries() async throws {
        try await withTemporaryDirectory("prepared") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let reader = try await EventStreamReader(url: Self.streamURL(server, since: 0))
                try await Self.push(server, 1)
                var files: [String: String] = [:]
                for index in 0...BundleApplier.preparedEventOperations { files["big/f\(index).txt"] = "\(index)" }
                let reply = try await ServerTest.upload(server, TestBundle.simple(files: files))
                #expect(reply.status == 200)
                let live = try await reader.next(2).map {
                    try JSONDecoder().decode(ChangeEntry.self, from: Data($0.data.utf8))
                }
                reader.close()
                let log = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=0").decode(
                    ChangesResponse.self)
                #expect(live == log.changes)
                #expect(live.map(\.operations.count) == [1, BundleApplier.preparedEventOperations + 1])
            }
        }
    }

    /// With a subscriber (one that reads nothing yet), a save's entry is in the stream's cache as
    /// soon as its upload is answered; without one, or for a bundle of more than
    /// `preparedEventOperations` operations, nothing is encoded ahead.
    @Test func aSavesEventIsEncodedAsItCommits() async throws {
        try await withTemporaryDirectory("encoded") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let events = server.prepared.streamEvents
                try await Self.push(server, 1)
                #expect(await events.completed(workspace: "ws", sequence: 1) == nil)
                let subscription = try #require(server.prepared.publisher.subscribe(workspace: "ws"))
                defer { subscription.end() }
                try await Self.push(server, 1, from: 1)
                #expect(await events.completed(workspace: "ws", sequence: 2) != nil)
                var files: [String: String] = [:]
                for index in 0...BundleApplier.preparedEventOperations { files["big/f\(index).txt"] = "\(index)" }
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: files)).status == 200)
                #expect(await events.completed(workspace: "ws", sequence: 3) == nil)
            }
        }
    }

    /// Changes commit while the subscriber is away and while it reconnects; resuming with
    /// `Last-Event-ID` delivers every sequence exactly once.
    @Test func resumingDeliversEverySequenceExactlyOnce() async throws {
        try await withTemporaryDirectory("resume") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let writer = Task { try await Self.push(server, 40) }
                var received: [Int64] = []
                var cursor: Int64 = 0
                while cursor < 40 {
                    let reader = try await EventStreamReader(
                        url: Self.streamURL(server, since: 0), headers: [("Last-Event-ID", String(cursor))])
                    // Read a few, then drop the connection mid-stream.
                    for _ in 0..<3 where cursor < 40 {
                        guard let event = try await reader.next(1).first else { break }
                        received.append(Int64(event.id ?? "") ?? -1)
                        cursor = received.last ?? cursor
                    }
                    reader.close()
                }
                try await writer.value
                #expect(received == Array(1...40))
            }
        }
    }

    @Test func compactedHistoryIsGoneForOldCursorsOnly() async throws {
        try await withTemporaryDirectory("compact") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: { $0.retainChanges = 3 }) { server in
                try await Self.push(server, 6)
                // Entries 4...6 are kept: a follower at 3 is served, one at 2 must re-bootstrap.
                let kept = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=3")
                #expect(kept.status == 200)
                #expect(try kept.decode(ChangesResponse.self).changes.map(\.sequence) == [4, 5, 6])
                let gone = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=2")
                #expect(gone.status == 410 && gone.errorCode == "HISTORY_COMPACTED")
                let stream = try await EventStreamReader(url: Self.streamURL(server, since: 1))
                #expect(stream.status == 410)
                let bundle = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/2?workspace=ws")
                #expect(bundle.status == 410)
                // Compaction trims the log, not the sequence.
                let log = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=5").decode(
                    ChangesResponse.self)
                #expect(log.lastSequence == 6)
            }
        }
    }

    @Test func compactCommandTrimsTheLogBesideARunningServer() async throws {
        try await withTemporaryDirectory("compact-cli") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                try await Self.push(server, 5)
                let result = try await ServerProcess.run([
                    "compact", "--work-dir", directory.path, "--workspace", "ws", "--keep", "2",
                ])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.contains("the log now starts at sequence 4"), "\(result.stdout)")
                let gone = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=0")
                #expect(gone.status == 410)
                let kept = try await HTTP.get(server.baseURL + "/api/v1/delta/changes?workspace=ws&since=3")
                #expect(try kept.decode(ChangesResponse.self).changes.map(\.sequence) == [4, 5])
                let missing = try await ServerProcess.run([
                    "compact", "--work-dir", directory.path, "--workspace", "nope", "--keep", "2",
                ])
                #expect(missing.status != 0 && missing.stderr.contains("workspace 'nope' does not exist"))
            }
        }
    }

    @Test func aCompactedBundleReplayedIsStillADuplicate() async throws {
        try await withTemporaryDirectory("compact-dup") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: { $0.retainChanges = 1 }) { server in
                let first = try TestBundle.simple(bundleID: "first", files: ["a.txt": "a"])
                #expect(try await ServerTest.upload(server, first).status == 200)
                try await Self.push(server, 3)
                let replay = try await ServerTest.upload(server, first)
                #expect(replay.status == 200 && replay.json["duplicate"] == .bool(true))
                #expect(replay.json["sequence_number"]?.intValue == 1)
            }
        }
    }

    /// A subscriber that stops reading is cut off once its queue is full; the others and the
    /// publisher never wait for it.
    @Test func aSlowSubscriberIsDisconnectedAndOthersAreNot() async throws {
        let publisher = LocalChangePublisher(maxSubscribers: 3, bufferCapacity: 4)
        let slow = try #require(publisher.subscribe(workspace: "ws"))
        let fast = try #require(publisher.subscribe(workspace: "ws"))
        let other = try #require(publisher.subscribe(workspace: "other"))
        #expect(publisher.subscribe(workspace: "ws") == nil)  // at the limit
        var fastSeen: [Int64] = []
        var iterator = fast.makeAsyncIterator()
        for sequence in 1...10 {
            publisher.publish(ChangeNotice(workspace: "ws", sequence: Int64(sequence)))
            if case .committed(let notice)? = await iterator.next() { fastSeen.append(notice.sequence) }
        }
        #expect(fastSeen == Array(1...10))
        #expect(slow.didOverflow && !fast.didOverflow && !other.didOverflow)
        var drained = 0
        for await _ in slow { drained += 1 }
        #expect(drained == 4)  // what fit, then the end: it resumes from its cursor
        #expect(publisher.subscriberCount == 2)
        publisher.finishAll()
        #expect(publisher.subscriberCount == 0)
    }

    @Test func tooManySubscribersGet503() async throws {
        try await withTemporaryDirectory("subscribers") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: { $0.maxSubscribers = 1 }) { server in
                let first = try await EventStreamReader(url: Self.streamURL(server))
                let second = try await EventStreamReader(url: Self.streamURL(server))
                #expect(first.status == 200 && second.status == 503)
                #expect(String(decoding: second.errorBody, as: UTF8.self).contains("SERVER_BUSY"))
                first.close()
            }
        }
    }

    /// SIGTERM ends open streams cleanly (the subscriber sees the end) and the server exits;
    /// after a restart the subscriber resumes where it was.
    @Test func gracefulShutdownEndsStreamsAndRestartResumes() async throws {
        try await withTemporaryDirectory("stream-restart") { directory in
            let work = directory.sub("work")
            // A port no other test's server can be given while this one is down.
            let port = try FreePort.pick()
            let server = try await ServerProcess.start(workDirectory: work, arguments: ["--port", String(port)])
            for index in 0..<2 {
                let reply = try await HTTP.upload(
                    server.baseURL, bundle: TestBundle.simple(files: ["f\(index)": "\(index)"]),
                    fields: [("workspace", "ws")])
                #expect(reply.status == 200)
            }
            let reader = try await EventStreamReader(url: server.baseURL + "/api/v1/delta/stream?workspace=ws&since=0")
            #expect(Self.sequences(try await reader.next(2)) == [1, 2])
            server.process.terminate()
            // The stream ends (an end of body, not a hang), then the process exits 0.
            while let _ = try await reader.next() {}
            while server.process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            #expect(server.process.terminationStatus == 0)
            let restarted = try await ServerProcess.start(workDirectory: work, arguments: ["--port", String(port)])
            defer { restarted.stop() }
            let upload = try await HTTP.upload(
                restarted.baseURL, bundle: TestBundle.simple(files: ["after": "restart"]), fields: [("workspace", "ws")]
            )
            #expect(upload.status == 200)
            let resumed = try await EventStreamReader(
                url: restarted.baseURL + "/api/v1/delta/stream?workspace=ws",
                headers: [("Last-Event-ID", "2")])
            #expect(Self.sequences(try await resumed.next(1)) == [3])
            resumed.close()
        }
    }
}

/// Blocking work runs on its own pool: a bundle of 200 MB parked mid-decompression holds a thread
/// there, and the cooperative pool — two threads on these machines — stays free for stream
/// heartbeats and other workspaces' uploads.
@Suite struct BlockingWorkTests {
    @Test func aParkedBigBundleStallsNeitherHeartbeatsNorOtherWorkspaces() async throws {
        let parked = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        try await withTemporaryDirectory("blocking") { directory in
            try await TestServer.with(
                workDirectory: directory.path,
                configure: { configuration in
                    configuration.heartbeatSeconds = 0.05
                    configuration.limits.maxCompressedBytes = 512 << 20
                    configuration.limits.maxUncompressedBytes = 512 << 20
                    configuration.limits.maxFileBytes = 512 << 20
                    configuration.failpoints.blockingHook = { point, workspace in
                        guard point == .duringValidate, workspace == "big" else { return }
                        parked.signal()
                        release.wait()
                    }
                }
            ) { server in
                // 200 MB to unpack, hash and write (a 16 KiB random block repeated: gzip sends it small,
                // the server still inflates all of it).
                var state: UInt64 = 0x9E37_79B9_7F4A_7C15
                var block = [UInt8](repeating: 0, count: 16 << 10)
                block.withUnsafeMutableBytes { raw in
                    for index in raw.bindMemory(to: UInt64.self).indices {
                        state ^= state << 13
                        state ^= state >> 7
                        state ^= state << 17
                        raw.bindMemory(to: UInt64.self)[index] = state
                    }
                }
                var content: [UInt8] = []
                content.reserveCapacity(200 << 20)
                for _ in 0..<((200 << 20) / block.count) { content.append(contentsOf: block) }
                var bundle = TestBundle()
                bundle.add("files/created/big.bin", content)
                bundle.addManifest(bundleID: "big", sequence: nil)
                bundle.addOperations([
                    BundleOperation(
                        operation: .created, path: "big.bin", contentHash: TestBundle.sha256(content),
                        sizeBytes: Int64(content.count))
                ])
                let compressed = try bundle.gzip()
                content = []

                let stream = try await EventStreamReader(
                    url: server.baseURL + "/api/v1/delta/stream?workspace=other&since=0")
                let big = Task { try await ServerTest.upload(server, compressed, workspace: "big") }
                // Wait off the cooperative pool until the big upload holds a blocking-pool thread.
                await withCheckedContinuation { (resumed: CheckedContinuation<Void, Never>) in
                    Thread {
                        parked.wait()
                        resumed.resume()
                    }.start()
                }

                let beats = stream.heartbeatCount
                let other = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["o.txt": "o"]), workspace: "other")
                #expect(other.status == 200)
                #expect(StreamTests.sequences(try await stream.next(1)) == [1])
                while stream.heartbeatCount < beats + 3 { try await Task.sleep(for: .milliseconds(20)) }
                #expect(try await HTTP.get(server.baseURL + "/health").status == 200)

                release.signal()
                let reply = try await big.value
                #expect(reply.status == 200, "\(String(decoding: reply.body.prefix(300), as: UTF8.self))")
                stream.close()
            }
        }
    }
}

@Suite struct MetricsTests {
    /// `/metrics` is swift-metrics rendered by swift-prometheus: requests, apply times, stream
    /// subscribers and events, per-workspace gauges.
    @Test func requestsApplyAndStreamsAreMeasured() async throws {
        try await withTemporaryDirectory("metrics") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let stream = try await EventStreamReader(
                    url: server.baseURL + "/api/v1/delta/stream?workspace=ws&since=0")
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["a": "a"])).status == 200)
                _ = try await stream.next(1)
                #expect(try await HTTP.get(server.baseURL + "/api/v1/delta/blobs/nothex?workspace=ws").status == 400)
                let text = String(
                    decoding: try await HTTP.get(server.baseURL + "/metrics").body, as: UTF8.self)
                for expected in [
                    #"deltasync_http_requests_total{method="POST",route="/api/v1/delta/upload",status="200"} 1"#,
                    #"deltasync_http_requests_total{method="GET",route="/api/v1/delta/blobs/{hash}",status="400"} 1"#,
                    "# TYPE deltasync_apply_duration_seconds histogram",
                    "deltasync_apply_duration_seconds_count 1",
                    "deltasync_bundles_applied_total 1",
                    "deltasync_stream_subscribers 1",
                    "deltasync_stream_events_sent_total 1",
                    #"deltasync_workspace_last_sequence{workspace="ws"} 1"#,
                    "deltasync_upload_bytes_read_total",
                ] {
                    #expect(text.contains(expected), "\(expected) missing from:\n\(text)")
                }
                stream.close()
            }
        }
    }
}
