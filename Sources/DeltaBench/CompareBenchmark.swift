import ArgumentParser
import DeltaClient
import DeltaCore
import DeltaTestSupport
import Foundation
import Logging
import Synchronization

/// `deltasync` beside the tools its users run today, on one workload, in one invocation: an
/// rsync daemon it starts itself, `git status --porcelain` with the untracked cache, and the
/// real `deltasync` binary (`serve`, `push`, `watch` as child processes). Prints each figure with
/// its peer's, the ratio and the target; never asserts.
struct CompareBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "deltasync beside rsync and git status on one workload, as ratios: every tool a real process."
    )

    @OptionGroup var options: WorkloadOptions
    @Option(help: "Timed runs of each measurement after one warm-up; the median is reported") var runs = 3
    @Option(help: "One-file edits timed from save to applied and to stream-notified") var edits = 200
    @Option(help: "Seconds watch idles before its RSS and CPU are read") var idleSeconds = 30
    @Flag(help: "Print one JSON document instead of the table") var json = false

    func run() async throws {
        try Peers.ensureInstalled()
        let (tree, scratch) = try options.directories(label: "compare")
        defer { FileSystem.removeTree(scratch) }
        let deltasync = ServerUnderTest.binary.path
        let files = try TreeScanner(root: tree, ignore: IgnoreRules(root: tree)).scan().files
        let megabytes = Double(files.reduce(0) { $0 + $1.size }) / 1_048_576
        // Unbuffered, so progress shows as it comes even when the output is a file.
        let say = json ? { (_: String) in } : { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        say(
            String(
                format: "%@: %d files, %.0f MiB; median of %d after a warm-up", options.workload, files.count,
                megabytes, runs))
        var rows: [Row] = []
        let edited = EditedFiles(tree: tree)
        defer { edited.restore() }

        // git first: `git add` of the whole tree is set-up, not a measurement.
        let git = try GitPeer(tree: tree)

        // Initial push: each tool into a new, empty destination, run after run. Nothing is deleted
        // until the end: on ext4 a run that follows a large delete pays for it in the inode
        // allocator (it skips recently freed inodes one by one), whichever tool it is.
        let daemon = try RsyncDaemon(module: scratch + "/rsync-destination", scratch: scratch, writable: true)
        defer { daemon.stop() }
        try FileSystem.createDirectory(daemon.module)
        func rsyncCommand(into run: Int) -> [String] {
            [
                "/usr/bin/rsync", "-a", "--delete", "--exclude=.git", "--exclude=.deltasync", tree + "/",
                daemon.url + "/run-\(run)/",
            ]
        }
        var server: ServerUnderTest?
        defer { server?.stop() }
        var initial = Samples()
        var servePeak = 0.0
        var servePushPeak = 0.0
        var servePrivate = 0.0
        for run in 0...runs {
            // In turn, one then the other first: the first to create the tree's inodes after a
            // disturbance pays for it.
            func timeRsync() throws -> Double {
                sync()
                return try Timed.process(rsyncCommand(into: run))
            }
            server?.stop()
            let fresh = try ServerUnderTest(workDirectory: scratch + "/server-\(run)")
            server = fresh
            var untilPushed = 0.0
            func timePush() async throws -> Double {
                sync()
                let seconds = try Timed.process(Self.push(deltasync, tree, fresh, scratch + "/push-state-\(run)"))
                // The peak until the push returned: the code graph is indexed after it.
                untilPushed = fresh.memory().peak
                // The server indexes the code graph after the push returns: untimed, but never
                // while the peer or the next measurement is timed.
                try await Self.waitForIndex(fresh, tree: tree, say: say)
                return seconds
            }
            let (rsyncTime, pushTime) = try await Timed.inTurn(run: run, peer: timeRsync, deltasync: timePush)
            let peak = fresh.memory().peak
            // Its own pages with the graph built (without the binary's, which the page cache holds).
            let own = ProcessStatus.privateMemory(of: fresh.process.processIdentifier)
            say(
                String(
                    format:
                        "  initial push %@ (%@ first): rsync %.2f s, deltasync %.2f s (%.2f), serve peak RSS %.0f MiB "
                        + "until the push returned, %.0f MiB with the code graph indexed (%.0f MiB its own)",
                    run == 0 ? "warm-up" : "run \(run)", run % 2 == 0 ? "rsync" : "deltasync", rsyncTime, pushTime,
                    pushTime / rsyncTime, untilPushed, peak, own))
            if run > 0 {
                initial.add(peer: rsyncTime, value: pushTime)
                servePeak = max(servePeak, peak)
                servePushPeak = max(servePushPeak, untilPushed)
                servePrivate = max(servePrivate, own)
            }
        }
        // What follows works on the last run's copies.
        let rsync = rsyncCommand(into: runs)
        let state = scratch + "/push-state-\(runs)"
        guard let server else { return }
        rows.append(initial.row("initial_push_s", "rsync -a to an rsync daemon", unit: "s", ratioTarget: 1.0))

        // Each figure below starts with nothing dirty in the page cache: rsync never syncs, and
        // the last initial push leaves its copy (700 MiB to 1.2 GiB) for the kernel to write back
        // some 30 s later, in the middle of the latency run, where every save's `fsync` queues
        // behind it (a save → applied p99 of 13 ms rose to 29 ms, max 140 ms, with writes going
        // on beside `deltasync-bench watch`). That is the peer's disturbance, not a figure.
        sync()

        // No change: the CLI process whole, beside git status and a no-change rsync. A pair with
        // git takes a fifth of a second, so there are at least `noChangePairs` of them, in turn
        // (which goes first alternates): with three, one slow run moved the median ratio by 10 %.
        var noChangeGit = Samples()
        var noChangeRsync = Samples()
        for run in 0...max(runs, Self.noChangePairs) {
            let (gitTime, pushTime) = try await Timed.inTurn(
                run: run, peer: { try Timed.process(git.status) },
                deltasync: { try Timed.process(Self.push(deltasync, tree, server, state)) })
            let rsyncTime = run <= runs ? try Timed.process(rsync) : nil
            say(
                String(
                    format: "  no-change %@: git status %.0f ms, deltasync push %.0f ms%@",
                    run == 0 ? "warm-up" : "run \(run)", gitTime * 1000, pushTime * 1000,
                    rsyncTime.map { String(format: ", rsync %.0f ms", $0 * 1000) } ?? ""))
            guard run > 0 else { continue }
            noChangeGit.add(peer: gitTime * 1000, value: pushTime * 1000)
            if let rsyncTime { noChangeRsync.add(peer: rsyncTime * 1000, value: pushTime * 1000) }
        }
        rows.append(
            noChangeGit.row(
                "no_change_push_ms", "git status --porcelain (untracked cache)", unit: "ms", ratioTarget: 1.0))
        rows.append(noChangeRsync.row("no_change_push_ms", "rsync -a, nothing changed", unit: "ms", ratioTarget: 1.0))

        // One file edited: the same edit seen by both.
        let small = files.filter { $0.size < 1 << 20 }
        var generator = SplitMix64(seed: 7)
        var oneEdit = Samples()
        for run in 0...runs {
            let file = small[Int(generator.next() % UInt64(small.count))]
            try edited.append(file.path, "// compare edit \(run)\n")
            let pushTime = try Timed.process(Self.push(deltasync, tree, server, state))
            let rsyncTime = try Timed.process(rsync)
            say(
                String(
                    format: "  one-file edit %@: rsync %.0f ms, deltasync push %.0f ms",
                    run == 0 ? "warm-up" : "run \(run)", rsyncTime * 1000, pushTime * 1000))
            if run > 0 { oneEdit.add(peer: rsyncTime * 1000, value: pushTime * 1000) }
        }
        rows.append(oneEdit.row("one_file_edit_push_ms", "rsync -a after the same edit", unit: "ms", ratioTarget: 1.0))

        // watch: save → applied and save → stream-notified, then memory and CPU when idle.
        // The one-file edits' rsync runs wrote little, but what is dirty is flushed first.
        sync()
        let watch = try WatchProcess(deltasync: deltasync, tree: tree, server: server, state: state)
        defer { watch.stop() }
        let latency = try await LatencyProbe.measure(
            server: server, tree: tree, files: small, edits: edits, edited: edited, say: say)
        for (name, samples, target) in [
            ("save_to_notified", latency.notified, [50: 10.0, 99: 50.0]),
            ("save_to_applied", latency.applied, [:]),
        ] {
            for percentile in [50, 95, 99] {
                let value = Percentile.of(samples, Double(percentile))
                let quoted: Double? = percentile == 50 ? 100 : nil
                rows.append(
                    Row(
                        metric: "\(name)_p\(percentile)_ms", peer: quoted == nil ? "" : "lsyncd (quoted, not run)",
                        peerValue: quoted, value: value, unit: "ms", ratio: quoted.map { value / $0 },
                        target: target[percentile], targetOn: "value"))
            }
        }
        let cpuBefore = watch.cpuSeconds()
        try await Task.sleep(for: .seconds(idleSeconds))
        let idleCPU = watch.cpuSeconds() - cpuBefore
        let watchRSS = ProcessStatus.memory(of: watch.process.processIdentifier).rss
        rows.append(
            Row(
                metric: "watch_rss_idle_mib", peer: "Watchman 172, Syncthing 136, lsyncd 4 MiB (quoted, not run)",
                peerValue: nil, value: watchRSS, unit: "MiB", ratio: nil, target: 40, targetOn: "value"))
        rows.append(
            Row(
                metric: "watch_private_idle_mib", peer: "", peerValue: nil,
                value: ProcessStatus.privateMemory(of: watch.process.processIdentifier), unit: "MiB", ratio: nil,
                target: nil, targetOn: "value"))
        rows.append(
            Row(
                metric: "serve_peak_rss_initial_push_mib", peer: "", peerValue: nil, value: servePushPeak, unit: "MiB",
                ratio: nil, target: 100, targetOn: "value"))
        rows.append(
            Row(
                metric: "serve_peak_rss_push_and_graph_mib", peer: "", peerValue: nil, value: servePeak, unit: "MiB",
                ratio: nil, target: 100, targetOn: "value"))
        rows.append(
            Row(
                metric: "serve_private_graph_built_mib", peer: "", peerValue: nil, value: servePrivate, unit: "MiB",
                ratio: nil, target: nil, targetOn: "value"))
        rows.append(
            Row(
                metric: "watch_idle_cpu_percent", peer: "", peerValue: nil,
                value: idleCPU / Double(idleSeconds) * 100, unit: "%", ratio: nil, target: nil, targetOn: "value"))

        if json {
            let document = Report(workload: options.workload, rows: rows)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(document) + Data("\n".utf8))
        } else {
            say(Row.table(rows))
        }
    }

    /// Waits (untimed) until the server's code graph has caught up with the workspace, so its
    /// background indexing never runs while the peer or a later measurement is timed.
    static func waitForIndex(_ server: ServerUnderTest, tree: String, say: (String) -> Void) async throws {
        let api = DeltaAPI(baseURL: server.baseURL, token: nil)
        let workspace = WorkspaceReference(name: "bench", path: tree)
        let deadline = ContinuousClock.now + .seconds(1800)
        var said = false
        while ContinuousClock.now < deadline {
            let status = try await api.status(workspace)
            if status.indexStatus == "none" || status.indexedSequence >= status.lastSequence { return }
            if status.indexStatus == "error" {
                say("  (the server's code graph reports an error; not waiting for it)")
                return
            }
            if !said {
                say("  (waiting, untimed, for the server's code graph to catch up)")
                said = true
            }
            try await Task.sleep(for: .seconds(1))
        }
        throw BenchError("the server's code graph did not catch up within 30 minutes")
    }

    static func push(_ deltasync: String, _ tree: String, _ server: ServerUnderTest, _ state: String) -> [String] {
        [deltasync, "push", tree, "--server", server.baseURL, "--workspace", "bench", "--state-dir", state]
    }

    /// One line of the comparison: `--json` prints these as `rows`.
    struct Row: Encodable {
        var metric: String
        var peer: String
        var peerValue: Double?
        var value: Double
        var unit: String
        var ratio: Double?
        /// An upper bound on `ratio` or on `value` (`target_on`); nil when there is none.
        var target: Double?
        var targetOn: String

        var met: Bool? {
            guard let target else { return nil }
            guard let measured = targetOn == "ratio" ? ratio : value else { return nil }
            return measured <= target
        }

        enum CodingKeys: String, CodingKey {
            case metric, peer, value, unit, ratio, target, met
            case peerValue = "peer_value"
            case targetOn = "target_on"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(metric, forKey: .metric)
            try container.encode(peer, forKey: .peer)
            try container.encode(peerValue, forKey: .peerValue)
            try container.encode(value, forKey: .value)
            try container.encode(unit, forKey: .unit)
            try container.encode(ratio, forKey: .ratio)
            try container.encode(target, forKey: .target)
            try container.encode(targetOn, forKey: .targetOn)
            try container.encode(met, forKey: .met)
        }

        static func format(_ value: Double?, _ unit: String) -> String {
            guard let value else { return "—" }
            return String(format: value >= 100 ? "%.0f %@" : "%.2f %@", value, unit)
        }

        static func table(_ rows: [Row]) -> String {
            var lines = [
                "metric                               peer value    deltasync    ratio   target      met   peer"
            ]
            for row in rows {
                let target =
                    row.target.map {
                        row.targetOn == "ratio" ? String(format: "≤ %.2f×", $0) : "≤ " + format($0, row.unit)
                    }
                    ?? "—"
                let met = row.met.map { $0 ? "yes" : "NO" } ?? "—"
                lines.append(
                    row.metric.padding(toLength: 37, withPad: " ", startingAt: 0)
                        + format(row.peerValue, row.unit).leftPadded(10) + format(row.value, row.unit).leftPadded(13)
                        + (row.ratio.map { String(format: "%.2f", $0) } ?? "—").leftPadded(9) + target.leftPadded(11)
                        + met.leftPadded(6) + "   " + row.peer)
            }
            return lines.joined(separator: "\n")
        }
    }

    struct Report: Encodable {
        var workload: String
        var rows: [Row]
    }

    /// Timed pairs of a no-change push and `git status`, at least (`--runs` if more).
    static let noChangePairs = 11

    /// Paired timings of a peer and deltasync; the row carries both medians and the median ratio.
    struct Samples {
        var peer: [Double] = []
        var value: [Double] = []

        mutating func add(peer: Double, value: Double) {
            self.peer.append(peer)
            self.value.append(value)
        }

        func row(_ metric: String, _ peerName: String, unit: String, ratioTarget: Double) -> Row {
            let ratios = zip(value, peer).map { $0 / max($1, 1e-9) }
            return Row(
                metric: metric, peer: peerName, peerValue: Percentile.of(peer, 50), value: Percentile.of(value, 50),
                unit: unit, ratio: Percentile.of(ratios, 50), target: ratioTarget, targetOn: "ratio")
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}

/// rsync and git, installed by `scripts/install-deps.sh --bench` when missing.
enum Peers {
    static func ensureInstalled() throws {
        let missing = ["/usr/bin/rsync", "/usr/bin/git"].filter { !FileManager.default.isExecutableFile(atPath: $0) }
        guard !missing.isEmpty else { return }
        print("installing the peers (\(missing.joined(separator: ", "))) with scripts/install-deps.sh --bench")
        guard (try? PushBenchmark.run("/bin/bash", ["scripts/install-deps.sh", "--bench"])) != nil,
            missing.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw BenchError("rsync and git are needed: run scripts/install-deps.sh --bench from the repository root")
        }
    }
}

/// The workload as a git repository with everything committed and the untracked cache on
/// (made once), and the `git status` command timed beside a no-change push.
struct GitPeer {
    let status: [String]

    init(tree: String) throws {
        let git = "/usr/bin/git"
        if !FileManager.default.fileExists(atPath: tree + "/.git/HEAD") {
            FileHandle.standardOutput.write(Data("making \(tree) a git repository (once)\n".utf8))
            try PushBenchmark.run(git, ["init", "-q"], in: tree)
            try PushBenchmark.run(git, ["add", "-A", "-f"], in: tree)
            try PushBenchmark.run(
                git, ["-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "bench", "--no-verify"], in: tree)
        }
        try PushBenchmark.run(git, ["config", "core.untrackedCache", "true"], in: tree)
        try PushBenchmark.run(git, ["update-index", "--untracked-cache"], in: tree)
        try PushBenchmark.run(git, ["status", "--porcelain"], in: tree)
        status = [git, "-C", tree, "status", "--porcelain"]
    }
}

/// Files the benchmark appended to, restored to their first content when it ends.
final class EditedFiles: Sendable {
    let tree: String
    private let originals = Mutex<[String: Data]>([:])

    init(tree: String) { self.tree = tree }

    func append(_ path: String, _ text: String) throws {
        try remember(path)
        try WatchBenchmark.append(tree + "/" + path, text)
    }

    /// Keeps `path`'s content to restore at the end (before an edit that is timed: the copy is
    /// not part of the save).
    func remember(_ path: String) throws {
        guard originals.withLock({ $0[path] == nil }) else { return }
        let data = try Data(contentsOf: URL(fileURLWithPath: tree + "/" + path))
        originals.withLock { $0[path] = $0[path] ?? data }
    }

    func restore() {
        for (path, data) in originals.withLock({ $0 }) {
            try? data.write(to: URL(fileURLWithPath: tree + "/" + path))
        }
    }
}

/// `deltasync watch` as a child process.
final class WatchProcess {
    let process = Process()

    init(deltasync: String, tree: String, server: ServerUnderTest, state: String) throws {
        process.executableURL = URL(fileURLWithPath: deltasync)
        process.arguments = [
            "watch", tree, "--server", server.baseURL, "--workspace", "bench", "--state-dir", state, "--log-level",
            "error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    func cpuSeconds() -> Double { ProcessStatus.cpuSeconds(of: process.processIdentifier) }

    func stop() {
        guard process.isRunning else { return }
        process.interrupt()
        process.waitUntilExit()
    }
}

/// Save → applied (the change's `applied_at`) and save → stream-notified (its event received)
/// for one-file edits made one at a time, while a `watch` process uploads them.
enum LatencyProbe {
    struct Arrival: Sendable {
        var paths: Set<String>
        var appliedAt: Date?
        var received: ContinuousClock.Instant
    }

    static func measure(
        server: ServerUnderTest, tree: String, files: [ScannedFile], edits: Int, edited: EditedFiles,
        say: (String) -> Void
    ) async throws -> (applied: [Double], notified: [Double]) {
        let api = DeltaAPI(baseURL: server.baseURL, token: nil)
        let workspace = WorkspaceReference(name: "bench", path: tree)
        let cursor = try await api.changes(workspace, since: 0, limit: 1).lastSequence
        let events = try await api.stream(workspace, after: cursor)
        let (arrivals, continuation) = AsyncStream<Arrival>.makeStream()
        let reader = Task {
            let parser = ISO8601DateFormatter()
            parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            do {
                for try await event in events where event.event == "change" {
                    let received = ContinuousClock.now
                    guard let entry = try? JSONDecoder().decode(ChangeEntry.self, from: Data(event.data.utf8)) else {
                        continue
                    }
                    continuation.yield(
                        Arrival(
                            paths: Set(entry.operations.map(\.path)), appliedAt: parser.date(from: entry.appliedAt),
                            received: received))
                }
            } catch {}
            continuation.finish()
        }
        defer { reader.cancel() }
        var iterator = arrivals.makeAsyncIterator()
        var generator = SplitMix64(seed: 11)
        var applied: [Double] = []
        var notified: [Double] = []
        // The first edit also waits out watch's start-up scan; it is not counted.
        for index in -1..<edits {
            let file = files[Int(generator.next() % UInt64(files.count))]
            try edited.remember(file.path)
            let wall = Date()
            let written = ContinuousClock.now
            try edited.append(file.path, "// latency \(index)\n")
            let arrival = try await next(containing: file.path, from: &iterator, reader: reader)
            guard index >= 0 else { continue }
            notified.append(Double(written.duration(to: arrival.received).nanoseconds) / 1e6)
            if let at = arrival.appliedAt { applied.append(max(0, at.timeIntervalSince(wall) * 1000)) }
            if (index + 1) % 50 == 0 { say("  latency: \(index + 1) of \(edits) edits") }
        }
        return (applied, notified)
    }

    static func next(
        containing path: String, from iterator: inout AsyncStream<Arrival>.Iterator, reader: Task<Void, Never>
    ) async throws -> Arrival {
        // Nothing arriving for a minute means watch is not uploading: stop rather than hang.
        let deadline = Task {
            try await Task.sleep(for: .seconds(60))
            reader.cancel()
        }
        defer { deadline.cancel() }
        while let arrival = await iterator.next() {
            if arrival.paths.contains(path) { return arrival }
        }
        throw BenchError("no change event for \(path) within 60 s: is watch running?")
    }
}
