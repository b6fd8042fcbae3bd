import ArgumentParser
import DeltaClient
import DeltaCore
import Foundation
import Logging

/// The workload options `push` and `watch` share, and the environment they set up: the
/// workload's working tree, a scratch directory, and the release server on loopback.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Workload under $BENCH/work: linux or synthetic-100k") var workload = "synthetic-100k"
    @Option(help: "Benchmark data directory (make_workloads.sh)") var bench =
        ProcessInfo.processInfo.environment["BENCH"] ?? "/tmp/bench"
    @Flag(
        help:
            "Sync every top-level entry even if the root .gitignore ignores it (Debian's linux-source ignores '/*'): writes a .deltasyncignore with '!/*'"
    )
    var includeTopLevel = false

    /// Where one benchmark runs; `close()` stops the server and removes the scratch directory.
    struct Environment {
        let tree: String
        let scratch: String
        let server: ServerUnderTest
        let logger: Logger

        /// A push configuration for the tree, with its state outside the workload.
        var push: PushConfiguration {
            PushConfiguration(
                root: tree, serverURL: server.baseURL, workspaceName: "bench", stateDirectory: scratch + "/state")
        }

        /// Pushes the workload (the set-up of the follow benchmarks, not what they time) and says
        /// how long it took.
        func pushWorkload() async throws -> PushReport {
            let started = ContinuousClock.now
            let report = try await PushSession(configuration: push, logger: logger).run()
            let seconds =
                Double(started.duration(to: .now).components.seconds)
                + Double(started.duration(to: .now).components.attoseconds) / 1e18
            print(String(format: "pushed %d files in %.2f s", report.created, seconds))
            return report
        }

        func close() {
            server.stop()
            FileSystem.removeTree(scratch)
        }
    }

    /// The workload's tree and a new scratch directory (the caller removes it).
    func directories(label: String) throws -> (tree: String, scratch: String) {
        let tree = bench + "/work/" + workload
        guard FileManager.default.fileExists(atPath: tree) else {
            throw BenchError("\(tree) is missing: run bash ../shared/bench/make_workloads.sh")
        }
        if includeTopLevel { try FileSystem.writeAtomically(tree + "/.deltasyncignore", Array("!/*\n".utf8)) }
        let scratch = NSTemporaryDirectory() + "deltasync-bench-\(label)-" + UUID().uuidString.prefix(8)
        try FileSystem.createDirectory(scratch)
        return (tree, scratch)
    }

    func prepare(label: String) throws -> Environment {
        let (tree, scratch) = try directories(label: label)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return Environment(
            tree: tree, scratch: scratch, server: try ServerUnderTest(workDirectory: scratch + "/server"),
            logger: logger)
    }
}
