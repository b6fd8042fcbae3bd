import DeltaCore
import Foundation

/// The built `deltasync` binary run as a real child process (crash and CLI tests).
public final class ServerProcess: @unchecked Sendable {
    public let process: ChildProcess
    public let port: Int

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
        try await offThePool { try runBlocking(arguments, environment: environment) }
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String]) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let result = try ChildProcess.run(
            binary, arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        return (
            result.status, String(decoding: result.stdout, as: UTF8.self),
            String(decoding: result.stderr, as: UTF8.self)
        )
    }

    /// Starts `deltasync serve --port 0 …` and waits, on a Dispatch thread, for its "listening on"
    /// line (see `run`: a cooperative thread must never wait on another process). A `launcher`
    /// (a command that runs the rest of its arguments, such as `prlimit --nofile=…`) runs it.
    public static func start(
        workDirectory: String, arguments: [String] = [], environment: [String: String] = [:],
        launcher: [String] = []
    ) async throws -> ServerProcess {
        try await offThePool {
            try ServerProcess(
                workDirectory: workDirectory, arguments: arguments, environment: environment, launcher: launcher)
        }
    }

    private init(
        workDirectory: String, arguments: [String], environment: [String: String], launcher: [String]
    ) throws {
        let arguments =
            ["serve", "--host", "127.0.0.1", "--port", "0", "--work-dir", workDirectory, "--log-level", "error"]
            // Test machines may be short of disk (as in `TestServer`); the floor has its own test.
            + (arguments.contains("--min-free-mb") ? [] : ["--min-free-mb", "1"])
            + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DELTASYNC_FAILPOINT")
        process = try ChildProcess(
            executable: launcher.first ?? Self.binary,
            arguments: launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [Self.binary] + arguments,
            environment: env.merging(environment) { $1 }, standardOutput: .pipe, standardError: .null)
        let output = process.standardOutput
        var buffer = Data()
        var found: Int?
        while found == nil {
            let chunk = output.availableData
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

    /// Waits, on a Dispatch thread, for the process to exit (after a failpoint) and returns its
    /// status. A server still there after `seconds` is killed, so a failpoint that is never
    /// reached fails the test instead of hanging the run.
    public func waitForExit(seconds: Int = 120) async -> Int32 {
        let process = self.process
        return await offThePool {
            if !Self.waitUntilExit(process, seconds: seconds) {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            return process.terminationStatus
        }
    }

    /// SIGTERM, and SIGKILL if the server is still there after `graceSeconds` (the server ends
    /// in-flight requests first; a test must not wait forever on one that never ends). The wait
    /// is bounded, so the few tests that stop a server from a `defer` hold a cooperative thread
    /// for at most that long.
    public func stop(graceSeconds: Int = 20) {
        guard process.isRunning else { return }
        process.terminate()
        if !Self.waitUntilExit(process, seconds: graceSeconds) {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// `stop()` waited for on a Dispatch thread, for tests that stop a server and go on.
    public func shutDown(graceSeconds: Int = 20) async {
        await offThePool { self.stop(graceSeconds: graceSeconds) }
    }

    deinit { stop() }

    /// Polls for the exit, at most `seconds`; whether the process has exited.
    private static func waitUntilExit(_ process: ChildProcess, seconds: Int) -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(10_000)
        }
        process.waitUntilExit()
        return true
    }
}
