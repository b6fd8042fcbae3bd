public import Foundation

/// The built `deltasync` binary run as a real child process (crash and CLI tests).
public final class ServerProcess: @unchecked Sendable {
    public let process: Process
    public let port: Int
    private let output: Pipe

    /// Path of the `deltasync` executable next to the test bundle (or `DELTASYNC_BIN`).
    public static var binary: String {
        if let override = ProcessInfo.processInfo.environment["DELTASYNC_BIN"] { return override }
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("deltasync").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return here.appendingPathComponent("deltasync").path
    }

    /// Runs `deltasync <arguments>` to completion and returns its exit status and output.
    ///
    /// The wait happens on a Dispatch thread: tests share the process with in-process servers,
    /// and a cooperative thread (two here) blocked for the seconds a `push` takes stalls them all.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments, environment: environment) })
            }
        }
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String]) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)
        )
    }

    /// Starts `deltasync serve --port 0 …` and waits for its "listening on" line.
    public init(workDirectory: String, arguments: [String] = [], environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments =
            ["serve", "--host", "127.0.0.1", "--port", "0", "--work-dir", workDirectory, "--log-level", "error"]
            + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DELTASYNC_FAILPOINT")
        process.environment = env.merging(environment) { $1 }
        output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var buffer = Data()
        var found: Int?
        while found == nil {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }),
                let colon = line.lastIndex(of: ":")
            {
                found = Int(line[line.index(after: colon)...])
            }
        }
        guard let found else {
            process.terminate()
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "deltasync serve did not start"])
        }
        port = found
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Waits for the process to exit (after a failpoint) and returns its status.
    public func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM and wait.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
