import ArgumentParser
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
