import ArgumentParser

/// `deltasync-bench`: end-to-end benchmarks on loopback. Figures, never assertions.
@main
struct DeltaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deltasync-bench",
        abstract: "End-to-end benchmarks of DeltaSync on loopback (run with -c release).",
        subcommands: [
            ApplyBenchmark.self, PushBenchmark.self, WatchBenchmark.self, FeedBenchmark.self, StreamBenchmark.self,
            PullBenchmark.self, CompareBenchmark.self, GraphBenchmark.self,
        ]
    )
}
