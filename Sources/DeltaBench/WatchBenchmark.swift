import ArgumentParser
import DeltaClient
import DeltaCore
import DeltaTestSupport
import Foundation
import Logging
import Synchronization

/// Save-to-applied latency of `deltasync watch` on a workload, set-up time, RSS and idle CPU.
struct WatchBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Latency from a file write to the server having applied it (p50/p95/p99)."
    )

    @OptionGroup var options: WorkloadOptions
    @Option(help: "Edits one at a time") var edits = 200
    @Option(help: "Bursts of --burst-size edits") var bursts = 20
    @Option(help: "Files per burst") var burstSize = 10
    @Option(help: "Seconds of idle CPU measurement") var idleSeconds = 60

    func run() async throws {
        let environment = try options.prepare(label: "watch")
        defer { environment.close() }
        let (tree, logger, push, workload) = (environment.tree, environment.logger, environment.push, options.workload)
        // The initial sync is what the push benchmark measures.
        _ = try await PushSession(configuration: push, logger: logger).run()

        let acknowledged = Acknowledgements()
        let started = ContinuousClock.now
        let session = try WatchSession(configuration: .init(push: push), logger: logger) { progress in
            acknowledged.update(progress.bundlesSent)
        }
        let running = Task { try await session.run() }
        await session.waitUntilWatching()
        _ = await session.quiescentStatus(timeout: .seconds(60))
        let setup = started.duration(to: .now)
        let watches = (session.watcher as? InotifyWatcher)?.watchCount ?? 0
        print(
            String(
                format: "watch set-up on %@: %.2f s, %d directories watched, RSS %.1f MiB", workload,
                Self.seconds(setup), watches, Self.rss()))

        let files = try TreeScanner(root: tree, ignore: IgnoreRules(root: tree)).scan().files.filter {
            $0.size < 1 << 20
        }
        var generator = SplitMix64(seed: 1)
        var single: [Double] = []
        for index in 0..<edits {
            let file = files[Int(generator.next() % UInt64(files.count))]
            let before = acknowledged.count
            let written = ContinuousClock.now
            try Self.append(tree + "/" + file.path, "// edit \(index)\n")
            await acknowledged.wait(beyond: before)
            single.append(Self.milliseconds(written.duration(to: .now)))
        }
        Self.report("one at a time", single)
        var burst: [Double] = []
        for round in 0..<bursts {
            let written = ContinuousClock.now
            for index in 0..<burstSize {
                let file = files[Int(generator.next() % UInt64(files.count))]
                try Self.append(tree + "/" + file.path, "// burst \(round) \(index)\n")
            }
            _ = await session.quiescentStatus(timeout: .seconds(30))
            burst.append(Self.milliseconds(written.duration(to: .now)))
        }
        Self.report("bursts of \(burstSize)", burst)

        let cpuBefore = Self.cpuSeconds()
        try await Task.sleep(for: .seconds(idleSeconds))
        let cpu = Self.cpuSeconds() - cpuBefore
        print(
            String(
                format: "idle %d s: CPU %.3f s (%.2f %%), RSS %.1f MiB", idleSeconds, cpu,
                cpu / Double(idleSeconds) * 100, Self.rss()))
        session.stop()
        try await running.value
        _ = try? PushBenchmark.python(["../shared/bench/mutate.py", "reset", workload, "--full"])
    }

    static func report(_ label: String, _ samples: [Double]) {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        print(
            String(
                format: "%@ (%d): p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms", label, sorted.count,
                percentile(0.5), percentile(0.95), percentile(0.99), sorted.last ?? 0))
    }

    static func append(_ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func milliseconds(_ duration: Duration) -> Double { seconds(duration) * 1000 }

    static func rss() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        return 0
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
            usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

/// Counts acknowledged bundles and lets the benchmark wait for the next one.
final class Acknowledgements: Sendable {
    private let state = Mutex<(count: Int, waiters: [(Int, CheckedContinuation<Void, Never>)])>((0, []))

    var count: Int { state.withLock { $0.count } }

    func update(_ sent: Int) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard sent > state.count else { return [] }
            state.count = sent
            let due = state.waiters.filter { $0.0 < sent }.map(\.1)
            state.waiters.removeAll { $0.0 < sent }
            return due
        }
        for continuation in ready { continuation.resume() }
    }

    func wait(beyond count: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.count > count { return true }
                state.waiters.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}
