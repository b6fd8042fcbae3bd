import ArgumentParser
import DeltaCore
import Foundation
import Logging

/// What every command does the same way: logs on stderr (text or JSON lines) and one sorted-key
/// JSON document on stdout for `--json`.
enum CommandOutput {
    static func bootstrapLogging(level: Logger.Level, json: Bool = false) {
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Runs `body`; a `DeltaError` becomes one `error:` line on stderr (and exit status 1)
    /// instead of the argument parser's `Error: CODE: message (cause)` dump.
    static func reportingErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as DeltaError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode.failure
        }
    }
}
