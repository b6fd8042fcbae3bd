import ArgumentParser
import CDeltaSys
import DeltaCore
import DeltaServer
import Foundation
import Logging

/// Where the server keeps its data; shared by `serve` and `token`.
struct WorkDirectoryOption: ParsableArguments {
    @Option(
        name: .customLong("work-dir"),
        help: "Data directory (env: DELTASYNC_WORK_DIR, WORK_DIR). Default ./deltasync-data")
    var workDirectory: String?

    var resolved: String {
        workDirectory ?? Environment.value("DELTASYNC_WORK_DIR", "WORK_DIR") ?? "./deltasync-data"
    }
}

/// Reads the environment variables existing deployments set, `DELTASYNC_*` first.
enum Environment {
    static func value(_ names: String...) -> String? {
        let environment = ProcessInfo.processInfo.environment
        for name in names {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    static func integer(_ names: String...) throws -> Int64? {
        for name in names {
            guard let text = ProcessInfo.processInfo.environment[name], !text.isEmpty else { continue }
            guard let value = Int64(text), value > 0 else {
                throw ValidationError("\(name) must be a positive integer, got '\(text)'")
            }
            return value
        }
        return nil
    }
}

/// How the server's processes (`serve`, `graph rebuild`) have glibc's malloc behave; a variable
/// of glibc's own in the environment (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`) still wins.
enum ServerAllocator {
    static func configure() {
        // Two arenas: with one per thread, the thread pool's arenas fragment and the server's
        // resident memory grows by ~50 MiB (131 → 78 MiB over `deltasync-bench apply`).
        if Environment.value("MALLOC_ARENA_MAX") == nil { _ = cdeltasys_limit_malloc_arenas(2) }
        // Arrays of 512 KiB and more mapped on their own: a register header's symbols and tokens
        // (tens of MiB while the code graph is built) otherwise stay in the heap, fragmented,
        // after they are freed.
        if Environment.value("MALLOC_MMAP_THRESHOLD_") == nil { _ = cdeltasys_fix_mmap_threshold(512 << 10) }
    }
}
