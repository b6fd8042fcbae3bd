import DeltaTestSupport
import Foundation
import Testing

/// The tests' own launcher (`ChildProcess`, `posix_spawn` in place of Foundation's `Process`).
@Suite struct ChildProcessTests {
    @Test func theChildInheritsNoDescriptorButItsStandardStreams() throws {
        // Not close-on-exec, and numbered high enough not to be a descriptor the shell opens.
        let inheritable = fcntl(open("/dev/null", O_RDONLY), F_DUPFD, 200)
        #expect(inheritable >= 200)
        defer { close(inheritable) }
        let child = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "ls /proc/$$/fd"], standardOutput: .pipe, standardError: .null)
        let listed = String(decoding: child.standardOutput.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").compactMap { Int32($0) }
        child.waitUntilExit()
        #expect(child.terminationReason == .exit && child.terminationStatus == 0)
        #expect(Set([0, 1, 2]).isSubset(of: Set(listed)))
        #expect(!listed.contains(inheritable), "\(listed)")
    }

    @Test func exitStatusesAndSignalsAreReported() throws {
        let exits = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "exit 7"])
        exits.waitUntilExit()
        #expect(exits.terminationReason == .exit && exits.terminationStatus == 7)
        #expect(!exits.isRunning)

        let sleeper = try ChildProcess(executable: "/bin/sleep", arguments: ["60"])
        #expect(sleeper.isRunning)
        sleeper.terminate()
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGTERM)
        sleeper.terminate()  // already reaped: no signal to a reused pid
    }

    /// `waitForExit` (the benchmark's timer) blocks without polling and leaves the status to read.
    @Test func waitForExitReturnsWithTheChildReapedAndItsStatus() throws {
        let exits = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "exit 3"], standardOutput: .null)
        exits.waitForExit()
        #expect(!exits.isRunning)
        #expect(exits.terminationReason == .exit && exits.terminationStatus == 3)
        // Reaped: no child of that id is left to wait for.
        #expect(waitpid(exits.processIdentifier, nil, WNOHANG) == -1 && errno == ECHILD)
        exits.waitForExit()  // again, once reaped: returns at once

        let sleeper = try ChildProcess(executable: "/bin/sleep", arguments: ["60"])
        sleeper.send(SIGKILL)
        sleeper.waitForExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
    }

    @Test func environmentDirectoryAndMissingExecutable() throws {
        let child = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "echo \"$PROBE\"; pwd"], environment: ["PROBE": "set"],
            directory: "/tmp", standardOutput: .pipe)
        let output = String(decoding: child.standardOutput.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        #expect(output == "set\n/tmp\n")
        #expect(throws: (any Error).self) {
            _ = try ChildProcess(executable: "/nonexistent/program", arguments: [])
        }
    }
}
