import ArgumentParser
import DeltaClient
import DeltaCore
import Foundation
import Logging
import Synchronization

/// Initial push of a workload, a no-change re-push beside `git status`, and the bytes each
/// mutation of `../shared/bench/mutate.py` sends.
struct PushBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Push throughput and incremental cost on the bench workloads."
    )

    @OptionGroup var options: WorkloadOptions
    @Option(help: "Path of mutate.py") var mutate = "../shared/bench/mutate.py"
    @Flag(help: "Also time `git status` on the same tree (makes it a git repository first, once)") var gitBaseline =
        false
    @Flag(help: "Skip the mutations") var noMutations = false

    func run() async throws {
        let environment = try options.prepare(label: "push")
        defer { environment.close() }
        let (tree, server, logger, configuration) = (
            environment.tree, environment.server, environment.logger, environment.push
        )
        let workload = options.workload
        let phases = PhaseClock()
        func push() async throws -> (PushReport, Double) {
            let started = ContinuousClock.now
            phases.reset()
            let report = try await PushSession(configuration: configuration, logger: logger) {
                phases.saw($0.phase.rawValue)
            }.run()
            return (
                report,
                Double(started.duration(to: .now).components.attoseconds) / 1e15
                    + Double(started.duration(to: .now).components.seconds) * 1000
            )
        }
        let (initial, initialMs) = try await push()
        let megabytes = Double(try Self.treeBytes(tree)) / 1_048_576
        print(
            String(
                format:
                    "initial push of %@: %d files, %.1f MiB in %.2f s — %.0f files/s, %.1f MB/s, %d bundles, %.1f MiB sent",
                workload, initial.created, megabytes, initialMs / 1000, Double(initial.created) / (initialMs / 1000),
                megabytes / (initialMs / 1000), initial.bundles, Double(initial.bytesSent) / 1_048_576
            ))
        print("  phases (s from start): " + phases.summary())
        var rePush: [Double] = []
        for _ in 0..<5 { rePush.append(try await push().1) }
        let rePushMedian = rePush.sorted()[2]
        print("  phases of the last re-push (s from start): " + phases.summary())
        print(
            String(
                format: "no-change re-push: median %.0f ms (%@)", rePushMedian,
                rePush.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
        if gitBaseline {
            let git = try Self.gitStatusMedian(tree)
            print(
                String(
                    format: "git status on the same tree: median %.0f ms — re-push / git status = %.2f", git,
                    rePushMedian / git))
        }
        let memory = server.memory()
        print(String(format: "server RSS %.1f MiB (peak %.1f MiB)", memory.rss, memory.peak))
        guard !noMutations else { return }
        print("mutation              files changed   bytes sent   push ms")
        for mutation in ["edit-one", "edit-middle-of-big", "touch-many", "rename-dir", "delete-many", "create-many"] {
            let applied = try Self.python([mutate, "apply", workload, mutation, "--seed", "1"])
            let (report, ms) = try await push()
            let changed = report.created + report.updated + report.deleted + report.moved
            print(
                mutation.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + String(format: "%13d %12lld %9.0f", changed, report.bytesSent, ms))
            _ = applied
            _ = try Self.python([mutate, "reset", workload])
            _ = try await push()
        }
    }

    static func treeBytes(_ root: String) throws -> Int64 {
        let scan = try TreeScanner(root: root, ignore: IgnoreRules(root: root)).scan()
        return scan.files.reduce(0) { $0 + $1.size }
    }

    static func python(_ arguments: [String]) throws -> String {
        try run("/usr/bin/env", ["python3"] + arguments)
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("\(executable) \(arguments.joined(separator: " ")) failed")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Median of five `git status` runs (the tree becomes a git repository with everything committed, once).
    static func gitStatusMedian(_ tree: String) throws -> Double {
        if !FileManager.default.fileExists(atPath: tree + "/.git/refs/heads/master")
            && !FileManager.default.fileExists(atPath: tree + "/.git/refs/heads/main")
        {
            try run("/usr/bin/git", ["init", "-q"], in: tree)
            try run("/usr/bin/git", ["add", "-A", "-f"], in: tree)  // tracked files are what git status stats
            try run("/usr/bin/git", ["-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "bench"], in: tree)
            try run("/usr/bin/git", ["status", "--porcelain"], in: tree)
        }
        var times: [Double] = []
        for _ in 0..<5 {
            let started = ContinuousClock.now
            try run("/usr/bin/git", ["status", "--porcelain"], in: tree)
            let elapsed = started.duration(to: .now)
            times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        return times.sorted()[2]
    }
}

/// When each push phase was first entered.
final class PhaseClock: Sendable {
    private let state = Mutex<(start: ContinuousClock.Instant, seen: [(String, Double)])>((.now, []))

    func reset() { state.withLock { $0 = (.now, []) } }

    func saw(_ phase: String) {
        state.withLock { state in
            guard !state.seen.contains(where: { $0.0 == phase }) else { return }
            let elapsed = state.start.duration(to: .now)
            state.seen.append(
                (phase, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        }
    }

    func summary() -> String {
        state.withLock { $0.seen.map { String(format: "%@ %.2f", $0.0, $0.1) }.joined(separator: ", ") }
    }
}
