import ArgumentParser
import AsyncHTTPClient
import DeltaClient
import DeltaCore
import DeltaTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Following a workspace: `changes?since=N` latency, stream fan-out, `pull` bootstrap against
/// rsync from an rsync daemon.
struct FeedBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "changes?since=N latency on a pushed workload with a long change log (real server process)."
    )

    @OptionGroup var options: WorkloadOptions
    @Option(help: "Change-log entries to add after the initial push") var entries = 10_000
    @Option(help: "Requests timed per cursor") var samples = 50

    func run() async throws {
        let environment = try options.prepare(label: "feed")
        defer { environment.close() }
        let pushed = try await environment.pushWorkload()
        let uploader = try Uploader(environment: environment, workspace: "bench")
        let logStart = ContinuousClock.now
        for index in 0..<entries {
            _ = try await uploader.upload(["deltasync-bench-feed/f\(index % 1000).txt": "entry \(index)\n"])
            if (index + 1) % 1000 == 0 {
                print("  \(index + 1)/\(entries) log entries (\(Seconds.since(logStart)))")
            }
        }
        let api = uploader.api
        let last = try await api.status(uploader.workspace).lastSequence
        print("workspace: \(pushed.created + min(entries, 1000)) files, sequence \(last)")
        print("cursor                          entries   p50 ms   p99 ms")
        for (label, back) in [("last - 1", 1), ("last - 10", 10), ("last - 100", 100), ("last - 1,000", 1000)] {
            let since = max(0, last - Int64(back))
            var times: [Double] = []
            for _ in 0..<samples {
                let request = ContinuousClock.now
                let page = try await api.changes(uploader.workspace, since: since, limit: 1000)
                times.append(Milliseconds.since(request))
                precondition(page.changes.count == min(back, 1000))
            }
            print(
                label.padding(toLength: 30, withPad: " ", startingAt: 0)
                    + String(
                        format: "%9d %8.2f %8.2f", min(back, 1000), Percentile.of(times, 50),
                        Percentile.of(times, 99)))
        }
    }
}

/// Stream fan-out: N subscribers on the live stream; latency from an upload's acknowledgement
/// to each subscriber receiving its event, and the server's memory.
struct StreamBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Live-stream fan-out: upload-acknowledged to event-received latency at 1, 100, 1,000 subscribers."
    )

    @Option(help: "Subscriber counts, comma-separated") var subscribers = "1,100,1000"
    @Option(help: "Uploads timed per subscriber count") var uploads = 50

    func run() async throws {
        let scratch = NSTemporaryDirectory() + "deltasync-bench-stream-" + UUID().uuidString.prefix(8)
        try FileSystem.createDirectory(scratch)
        let server = try ServerUnderTest(workDirectory: scratch + "/server")
        defer {
            server.stop()
            FileSystem.removeTree(scratch)
        }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 4096)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let uploader = try Uploader(baseURL: server.baseURL, scratch: scratch, workspace: "stream")
        _ = try await uploader.upload(["warm": "0"])
        print("subscribers   p50 ms   p99 ms   (from send: p50   p99)   early   server RSS MiB (peak)")
        for count in subscribers.split(separator: ",").compactMap({ Int($0) }) {
            let received = Arrivals()
            let since = try await uploader.api.status(uploader.workspace).lastSequence
            let url = server.baseURL + "/api/v1/delta/stream?workspace=stream&since=\(since)"
            var readers: [Task<Void, Never>] = []
            for _ in 0..<count {
                readers.append(
                    Task {
                        var request = HTTPClientRequest(url: url)
                        request.headers.add(name: "accept", value: "text/event-stream")
                        guard let response = try? await client.execute(request, timeout: .hours(1)) else { return }
                        var parser = ServerSentEventParser()
                        do {
                            for try await chunk in response.body {
                                for event in parser.feed(chunk.readableBytesView) where event.event == "change" {
                                    guard let id = event.id.flatMap({ Int64($0) }) else { continue }
                                    let now = ContinuousClock.now
                                    received.times.withLock { $0[id, default: []].append(now) }
                                }
                            }
                        } catch {}
                    })
            }
            // Every subscriber is connected once each has the first event.
            let first = try await uploader.upload(["ready": "\(count)"])
            try await Self.wait(for: first.sequence, count: count, in: received)
            var afterAck: [Double] = []
            var afterSend: [Double] = []
            var early = 0
            for index in 0..<uploads {
                let sent = ContinuousClock.now
                let (sequence, acknowledged) = try await uploader.upload(["f\(index % 10)": "\(count)-\(index)"])
                let times = try await Self.wait(for: sequence, count: count, in: received)
                for time in times {
                    let delay = Double(acknowledged.duration(to: time).nanoseconds) / 1e6
                    if delay < 0 { early += 1 }
                    afterAck.append(max(0, delay))
                    afterSend.append(Double(sent.duration(to: time).nanoseconds) / 1e6)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let memory = server.memory()
            print(
                String(
                    format: "%11d %8.2f %8.2f   %13.2f %6.2f %8d   %.1f (%.1f)", count, Percentile.of(afterAck, 50),
                    Percentile.of(afterAck, 99), Percentile.of(afterSend, 50), Percentile.of(afterSend, 99), early,
                    memory.rss, memory.peak))
            for reader in readers { reader.cancel() }
            for reader in readers { await reader.value }
        }
        try await client.shutdown()
    }

    /// Waits until `count` subscribers received `sequence`; returns when each did.
    @discardableResult
    static func wait(for sequence: Int64, count: Int, in received: Arrivals)
        async throws -> [ContinuousClock.Instant]
    {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let times = received.times.withLock { $0[sequence] ?? [] }
            if times.count >= count { return times }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw BenchError("only some of \(count) subscribers received sequence \(sequence) within 120 s")
    }
}

/// When each subscriber received each sequence.
final class Arrivals: Sendable {
    let times = Mutex<[Int64: [ContinuousClock.Instant]]>([:])
}

/// `deltasync pull` bootstrap of a workload against `rsync -a` from an rsync daemon serving the
/// same tree, both as real processes, in turn, in one run.
struct PullBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "deltasync pull bootstrap against rsync from an rsync daemon on the same tree, as a ratio."
    )

    @OptionGroup var options: WorkloadOptions
    @Option(help: "Timed runs of each (after one warm-up each)") var runs = 3

    func run() async throws {
        let environment = try options.prepare(label: "pull")
        defer { environment.close() }
        _ = try await environment.pushWorkload()
        // Timed with the server idle, as the rsync daemon is: its code graph of the pushed tree
        // is built first (in the background it would share the two cores with every run).
        let indexing = ContinuousClock.now
        _ = try await GraphBenchmark.waitIndexed(
            DeltaAPI(baseURL: environment.server.baseURL, token: nil),
            WorkspaceReference(name: "bench", path: environment.tree))
        print("code graph indexed \(Seconds.since(indexing)) after the push; timing starts now")
        let daemon = try RsyncDaemon(module: environment.tree, scratch: environment.scratch)
        defer { daemon.stop() }
        let deltasync = ServerUnderTest.binary.path
        var rsyncTimes: [Double] = []
        var pullTimes: [Double] = []
        // Each run into new directories, nothing deleted until the end: on ext4 a run that
        // follows a large delete pays for it in the inode allocator, whichever tool it is. The
        // two go in turn, first one then the other: the first to create 100,000 inodes after a
        // disturbance pays for it, so neither always goes first.
        for run in 0...runs {
            let rsyncDestination = environment.scratch + "/rsync-\(run)"
            let pullDestination = environment.scratch + "/pull-\(run)"
            func timeRsync() throws -> Double {
                sync()
                // What deltasync never syncs (a git directory a `compare` run made, the state directory).
                return try Timed.process([
                    "/usr/bin/rsync", "-a", "--exclude=.git", "--exclude=.deltasync", daemon.url + "/",
                    rsyncDestination + "/",
                ])
            }
            func timePull() throws -> Double {
                sync()
                return try Timed.process([
                    deltasync, "pull", pullDestination, "--server", environment.server.baseURL, "--workspace", "bench",
                ])
            }
            let (rsyncTime, pullTime) = try await Timed.inTurn(run: run, peer: timeRsync, deltasync: timePull)
            let rsyncFiles = try Self.fileCount(rsyncDestination)
            let pullFiles = try Self.fileCount(pullDestination, excluding: ".deltasync")
            guard pullFiles == rsyncFiles else {
                throw BenchError("pull wrote \(pullFiles) files, rsync \(rsyncFiles): not the same tree")
            }
            if run == 0 {
                print(
                    "warm-up: rsync \(Seconds.format(rsyncTime)), pull \(Seconds.format(pullTime)); \(pullFiles) files")
                continue
            }
            rsyncTimes.append(rsyncTime)
            pullTimes.append(pullTime)
            print(
                String(
                    format: "run %d (%@ first): rsync %.2f s, pull %.2f s, pull/rsync %.2f", run,
                    run % 2 == 0 ? "rsync" : "pull", rsyncTime, pullTime, pullTime / rsyncTime))
        }
        let rsyncMedian = Percentile.of(rsyncTimes, 50)
        let pullMedian = Percentile.of(pullTimes, 50)
        print(
            String(
                format: "median: rsync %.2f s, deltasync pull %.2f s — pull/rsync = %.2f (target <= 1.00)",
                rsyncMedian, pullMedian, pullMedian / rsyncMedian))
        let memory = environment.server.memory()
        print(String(format: "server RSS %.1f MiB (peak %.1f MiB)", memory.rss, memory.peak))
    }

    static func fileCount(_ root: String, excluding skipped: String? = nil) throws -> Int {
        var count = 0
        guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
        while let next = walker.nextObject() as? String {
            if let skipped, next == skipped {
                walker.skipDescendants()
                continue
            }
            if (walker.fileAttributes?[.type] as? FileAttributeType) == .typeRegular { count += 1 }
        }
        return count
    }
}

/// `rsync --daemon` on 127.0.0.1 serving one module, `bench`, at `module`: read-only to be
/// pulled from, or writable (as the running user) to be pushed to.
final class RsyncDaemon {
    let process = Process()
    let url: String
    let module: String

    init(module: String, scratch: String, writable: Bool = false) throws {
        self.module = module
        let port = Int.random(in: 20_000...40_000)
        let config = scratch + "/rsyncd.conf"
        try FileSystem.writeAtomically(
            config,
            Array(
                """
                use chroot = no
                pid file = \(scratch)/rsyncd.pid
                [bench]
                path = \(module)
                read only = \(writable ? "no" : "yes")
                uid = \(getuid())
                gid = \(getgid())

                """.utf8))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
        process.arguments = ["--daemon", "--no-detach", "--config=\(config)", "--port=\(port)", "--address=127.0.0.1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        url = "rsync://127.0.0.1:\(port)/bench"
        for _ in 0..<100 {
            if (try? Timed.process(["/usr/bin/rsync", "rsync://127.0.0.1:\(port)/"])) != nil { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw BenchError(
            "rsync --daemon did not start on 127.0.0.1:\(port) (is rsync installed? scripts/install-deps.sh --bench)")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// Uploads small bundles to a workspace, one sequence after another.
struct Uploader {
    let api: DeltaAPI
    let workspace: WorkspaceReference
    let scratch: String

    init(environment: WorkloadOptions.Environment, workspace: String) throws {
        try self.init(baseURL: environment.server.baseURL, scratch: environment.scratch, workspace: workspace)
    }

    init(baseURL: String, scratch: String, workspace: String) throws {
        api = DeltaAPI(baseURL: baseURL, token: nil)
        self.workspace = WorkspaceReference(name: workspace, path: "/bench/" + workspace)
        self.scratch = scratch
    }

    /// Uploads `files` as one bundle (created or updated: the server takes either); returns the
    /// sequence and when the acknowledgement arrived.
    func upload(_ files: [String: String]) async throws -> (sequence: Int64, acknowledged: ContinuousClock.Instant) {
        let entries = files.sorted { $0.key < $1.key }.map { path, text in
            var hasher = SHA256Hasher()
            Array(text.utf8).withUnsafeBytes { hasher.update($0) }
            return BundleWriter.Entry(
                operation: BundleOperation(
                    operation: .created, path: path,
                    contentHash: ContentHash(algorithm: .sha256, hex: hasher.finalize()),
                    sizeBytes: Int64(text.utf8.count)),
                content: .bytes(Array(text.utf8)))
        }
        let path = scratch + "/upload.tar.gz"
        try BundleWriter().write(
            to: path, bundleID: UUID().uuidString.lowercased(), workspacePath: workspace.path, sequenceNumber: nil,
            entries: entries)
        switch try await api.upload(bundleAt: path, workspace: workspace, sequence: nil) {
        case .applied(let reply):
            return (reply.sequenceNumber, ContinuousClock.now)
        case .sequenceMismatch(let expected):
            throw BenchError("unexpected sequence mismatch (expected \(expected))")
        }
    }
}

enum Timed {
    /// Times the peer and deltasync in turn: the peer first in even runs, deltasync first in odd
    /// ones (the first to create a tree's inodes after a disturbance pays for it on ext4).
    static func inTurn(
        run: Int, peer: () async throws -> Double, deltasync: () async throws -> Double
    ) async rethrows -> (peer: Double, deltasync: Double) {
        if run % 2 == 0 {
            let first = try await peer()
            return (first, try await deltasync())
        }
        let first = try await deltasync()
        return (try await peer(), first)
    }

    /// Runs a command to completion (output discarded) and returns its wall time in seconds.
    /// Launched with `posix_spawn` and waited for with `waitid`, as a shell does: Foundation's
    /// `Process` ends its wait on a 50 ms poll, which added up to 50 ms to a timed command.
    static func process(_ arguments: [String]) throws -> Double {
        let started = ContinuousClock.now
        let process = try ChildProcess(
            executable: arguments[0], arguments: Array(arguments.dropFirst()), standardOutput: .null,
            standardError: .null)
        process.waitForExit()
        let elapsed = Double(started.duration(to: .now).nanoseconds) / 1e9
        guard process.terminationStatus == 0 else {
            throw BenchError("\(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return elapsed
    }
}

enum Percentile {
    /// The `p`th percentile (nearest rank) of `values`.
    static func of(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}

enum Seconds {
    static func since(_ start: ContinuousClock.Instant) -> String {
        format(Double(start.duration(to: .now).nanoseconds) / 1e9)
    }

    static func format(_ seconds: Double) -> String { String(format: "%.2f s", seconds) }
}

enum Milliseconds {
    static func since(_ start: ContinuousClock.Instant) -> Double {
        Double(start.duration(to: .now).nanoseconds) / 1e6
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
