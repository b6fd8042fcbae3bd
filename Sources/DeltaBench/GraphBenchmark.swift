import ArgumentParser
import AsyncHTTPClient
import DeltaClient
import DeltaCore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The code graph on a pushed workload (real server and CLI processes): full build (files/s,
/// RSS, database size), incremental updates from upload acknowledged to the `invalidated` event
/// for a body-only edit of a leaf `.c` file and an interface edit of a widely included header,
/// and the agreement of the C include edges with `gcc -MM -MG`.
struct GraphBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Code graph: full build, leaf and header edit latency, and include agreement with gcc -MM."
    )

    @OptionGroup var options: WorkloadOptions
    @Option(help: "Timed edits of each kind") var edits = 20
    @Option(help: ".c files compared with gcc -MM -MG") var sample = 200
    @Option(help: "Architecture whose include directories the graph and gcc use (written to .deltasync-graph.json)")
    var arch = "x86"

    func run() async throws {
        let (tree, scratch) = try options.directories(label: "graph")
        let includeDirectories = [
            "arch/\(arch)/include", "arch/\(arch)/include/generated", "include", "arch/\(arch)/include/uapi",
            "arch/\(arch)/include/generated/uapi", "include/uapi", "include/generated/uapi",
        ]
        let configuration = try JSONSerialization.data(
            withJSONObject: ["c_include_dirs": includeDirectories], options: [.sortedKeys])
        try FileSystem.writeAtomically(tree + "/.deltasync-graph.json", Array(configuration))
        let work = scratch + "/server"
        var server = try ServerUnderTest(workDirectory: work)
        defer {
            server.stop()
            FileSystem.removeTree(scratch)
        }
        let api = DeltaAPI(baseURL: server.baseURL, token: nil)
        let reference = WorkspaceReference(name: "bench", path: tree)

        // 1. Push, and the graph following it.
        let pushStarted = ContinuousClock.now
        let push = try ProcessRunner.run(
            ServerUnderTest.binary.path,
            [
                "push", tree, "--server", server.baseURL, "--workspace", "bench", "--state-dir", scratch + "/state",
                "--json",
            ])
        guard push.status == 0 else { throw BenchError("push failed: \(push.stderr)") }
        let pushed = Milliseconds.since(pushStarted) / 1000
        let caughtUp = try await Self.waitIndexed(api, reference)
        let following = Milliseconds.since(pushStarted) / 1000
        print(
            String(
                format: "push %.2f s; graph caught up %.2f s after the push began (%d bundles)", pushed, following,
                caughtUp))
        print(
            String(format: "server RSS after indexing: %.1f MiB (peak %.1f)", server.memory().rss, server.memory().peak)
        )

        // 2. A full build, timed as the CLI runs it, with the server stopped.
        server.stop()
        let rebuildStarted = ContinuousClock.now
        let rebuild = try ProcessRunner.run(
            ServerUnderTest.binary.path, ["graph", "rebuild", "--work-dir", work, "--workspace", "bench"],
            sampleMemory: true)
        guard rebuild.status == 0 else { throw BenchError("graph rebuild failed: \(rebuild.stderr)") }
        let rebuildSeconds = Milliseconds.since(rebuildStarted) / 1000
        let databaseBytes = ["", "-wal"].reduce(Int64(0)) { total, suffix in
            let size = (try? FileManager.default.attributesOfItem(atPath: work + "/deltasync.sqlite" + suffix)[.size])
            return total + ((size as? NSNumber)?.int64Value ?? 0)
        }
        print(rebuild.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        print(
            String(
                format:
                    "full build: %.2f s wall (process), peak RSS %.1f MiB, database %.1f MiB (files, change log and graph)",
                rebuildSeconds, rebuild.peakMiB, Double(databaseBytes) / 1_048_576))

        server = try ServerUnderTest(workDirectory: work)
        let live = DeltaAPI(baseURL: server.baseURL, token: nil)
        _ = try await Self.waitIndexed(live, reference)
        let events = try await GraphEvents(url: server.baseURL + "/api/v1/graph/stream?workspace=bench")
        defer { events.close() }
        let uploader = try Uploader(baseURL: server.baseURL, scratch: scratch, workspace: "bench")

        // 3. A body-only edit of a leaf .c file.
        let leaf = ["kernel/sys.c", "mm/mmap.c", "fs/open.c"].first {
            FileManager.default.fileExists(atPath: tree + "/" + $0)
        }
        if let leaf {
            let text = try String(contentsOfFile: tree + "/" + leaf, encoding: .utf8)
            var rows: [(latency: Double, invalidated: Int, indexing: Double)] = []
            for round in 0...edits {
                let edited = text + "\nstatic int deltasync_bench_probe(void)\n{\n\treturn \(round);\n}\n"
                let (sequence, acknowledged) = try await uploader.upload([leaf: edited])
                let (record, arrived) = try await events.wait(for: sequence)
                if round > 0 {  // the first adds the function: its interface is unchanged, its symbols are not
                    rows.append(
                        (
                            Double(acknowledged.duration(to: arrived).nanoseconds) / 1e6, record.invalidatedCount,
                            record.timingsMs.values.reduce(0, +)
                        ))
                }
            }
            Self.report("leaf body edit: \(leaf)", rows)
        }

        // 4. An interface edit of the most included header.
        var best: (path: String, direct: Int) = ("", -1)
        for candidate in [
            "include/linux/types.h", "include/linux/kernel.h", "include/linux/slab.h", "include/linux/module.h",
        ]
        where FileManager.default.fileExists(atPath: tree + "/" + candidate) {
            let direct = try await live.graphRelated(
                dependents: true, workspace: reference, path: candidate, transitive: false, depth: nil
            ).results.count
            if direct > best.direct { best = (candidate, direct) }
        }
        if best.direct >= 0 {
            let text = try String(contentsOfFile: tree + "/" + best.path, encoding: .utf8)
            var rows: [(latency: Double, invalidated: Int, indexing: Double)] = []
            for round in 0..<edits {
                let edited = text + "\n#define DELTASYNC_BENCH_PROBE_\(round) \(round)\n"
                let (sequence, acknowledged) = try await uploader.upload([best.path: edited])
                let (record, arrived) = try await events.wait(for: sequence)
                rows.append(
                    (
                        Double(acknowledged.duration(to: arrived).nanoseconds) / 1e6, record.invalidatedCount,
                        record.timingsMs.values.reduce(0, +)
                    ))
            }
            Self.report("header interface edit: \(best.path) (\(best.direct) direct includers)", rows)
        }

        // 5. Include edges against the compiler's own dependency output.
        try await compareWithGCC(tree: tree, api: live, reference: reference, includeDirectories: includeDirectories)
    }

    static func report(_ title: String, _ rows: [(latency: Double, invalidated: Int, indexing: Double)]) {
        guard !rows.isEmpty else { return }
        let latencies = rows.map(\.latency)
        let indexing = rows.map(\.indexing)
        print(title)
        print(
            String(
                format:
                    "  upload acknowledged → invalidated event: p50 %.1f ms, p95 %.1f ms, max %.1f ms over %d edits",
                Percentile.of(latencies, 50), Percentile.of(latencies, 95), latencies.max() ?? 0, rows.count))
        print(
            String(
                format: "  indexing step (extract + update + persist): p50 %.1f ms; files invalidated: %d",
                Percentile.of(indexing, 50), rows.last?.invalidated ?? 0))
    }

    static func waitIndexed(_ api: DeltaAPI, _ reference: WorkspaceReference) async throws -> Int64 {
        while true {
            let status = try await api.status(reference)
            if status.indexStatus == "ready", status.indexedSequence == status.lastSequence {
                return status.lastSequence
            }
            if status.indexStatus == "error" { throw BenchError("indexing failed; see the server log") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func compareWithGCC(
        tree: String, api: DeltaAPI, reference: WorkspaceReference, includeDirectories: [String]
    ) async throws {
        guard ProcessRunner.which("gcc") != nil else {
            print("gcc -MM comparison skipped: gcc is not installed (apt-get install gcc)")
            return
        }
        var candidates: [String] = []
        for top in ["kernel", "mm", "fs", "lib", "net/core", "drivers/base", "block", "security"] {
            guard let walker = FileManager.default.enumerator(atPath: tree + "/" + top) else { continue }
            while let next = walker.nextObject() as? String {
                if next.hasSuffix(".c") { candidates.append(top + "/" + next) }
            }
        }
        candidates.sort()
        let step = max(1, candidates.count / max(sample, 1))
        let chosen = stride(from: 0, to: candidates.count, by: step).map { candidates[$0] }.prefix(sample)
        var common = 0
        var compilerOnly = 0
        var graphOnly = 0
        var compared = 0
        for file in chosen {
            let arguments =
                ["-MM", "-MG", "-D__KERNEL__", "-nostdinc", "-include", "include/linux/kconfig.h"]
                + includeDirectories.flatMap { ["-I", $0] } + [file]
            // Without a kernel configuration some headers stop at an `#error`; the preprocessor
            // goes on and the dependency list is still written, so a non-zero status is kept.
            let result = try ProcessRunner.run("/usr/bin/env", ["gcc"] + arguments, directory: tree)
            guard result.stdout.contains(":") else { continue }
            let compiler = Set(
                result.stdout.replacingOccurrences(of: "\\\n", with: " ").split(whereSeparator: {
                    $0 == " " || $0 == "\n"
                })
                .dropFirst(2).map(String.init).compactMap { path -> String? in
                    let clean = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
                    guard clean != "include/linux/kconfig.h" else { return nil }  // the -include'd file
                    return FileManager.default.fileExists(atPath: tree + "/" + clean) ? clean : nil
                })
            let graph = Set(
                try await api.graphRelated(
                    dependents: false, workspace: reference, path: file, transitive: true, depth: nil
                )
                .results.map(\.path))
            common += compiler.intersection(graph).count
            compilerOnly += compiler.subtracting(graph).count
            graphOnly += graph.subtracting(compiler).count
            compared += 1
        }
        let recall = Double(common) / Double(max(common + compilerOnly, 1)) * 100
        print("gcc -MM -MG agreement over \(compared) .c files (transitive includes, \(arch) include directories):")
        print(
            String(
                format:
                    "  recall %.1f%% (%d of %d compiler headers found); %d extra edges in the graph (every #if branch, every wildcard match)",
                recall, common, common + compilerOnly, graphOnly))
    }
}

/// The graph stream, read in the background; `wait(for:)` returns the first record reaching a
/// sequence and when it arrived.
final class GraphEvents: Sendable {
    private final class Arrived: Sendable {
        let records = Mutex<[(InvalidationRecord, ContinuousClock.Instant)]>([])
    }

    private let arrived = Arrived()
    private let reading: Task<Void, Never>

    init(url: String) async throws {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .hours(4))
        guard response.status == .ok else { throw BenchError("graph stream: HTTP \(response.status.code)") }
        let arrived = self.arrived
        reading = Task {
            var parser = ServerSentEventParser()
            let decoder = JSONDecoder()
            do {
                for try await chunk in response.body {
                    for event in parser.feed(chunk.readableBytesView) where event.event == "invalidated" {
                        let now = ContinuousClock.now
                        if let record = try? decoder.decode(InvalidationRecord.self, from: Data(event.data.utf8)) {
                            arrived.records.withLock { $0.append((record, now)) }
                        }
                    }
                }
            } catch {}
        }
    }

    func wait(for sequence: Int64) async throws -> (InvalidationRecord, ContinuousClock.Instant) {
        while true {
            if let found = arrived.records.withLock({ $0.first { $0.0.toSequence >= sequence } }) { return found }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    func close() { reading.cancel() }
}

/// Child processes of the graph benchmark, their output kept in files (no pipe to fill up).
enum ProcessRunner {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Peak resident set size (`VmHWM`), sampled while it ran; 0 unless asked for.
        var peakMiB: Double
    }

    static func run(_ executable: String, _ arguments: [String], directory: String? = nil, sampleMemory: Bool = false)
        throws -> Result
    {
        let output = NSTemporaryDirectory() + "deltasync-bench-run-" + UUID().uuidString.prefix(8)
        _ = FileManager.default.createFile(atPath: output + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: output + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: output + ".out")
            try? FileManager.default.removeItem(atPath: output + ".err")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: output + ".err"))
        try process.run()
        var peak = 0.0
        if sampleMemory {
            while process.isRunning {
                peak = max(peak, ProcessStatus.memory(of: process.processIdentifier).peak)
                usleep(20_000)
            }
        }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: output + ".out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "", peakMiB: peak)
    }

    static func which(_ name: String) -> String? {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin"]
        where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
            return directory + "/" + name
        }
        return nil
    }
}
