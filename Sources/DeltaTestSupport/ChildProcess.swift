import CDeltaSys
import DeltaCore
public import Foundation
import Glibc

/// A child process for tests, launched with `posix_spawn` (`cdeltasys_spawn`).
///
/// Not Foundation's `Process`: its `run()` lists `/proc/self/fd` and copies 256 bytes of each
/// entry's name out of glibc's directory buffer (swift-corelibs-foundation #5472). Once the
/// listing fills that buffer, at about 1,300 open descriptors (a full parallel run holds over
/// 2,000), the copy can run past the end of a heap, and the test process crashed in it. Guarding
/// the heap around each launch made the crash rarer, never impossible; this has no listing.
///
/// The child gets descriptors 0–2 only (all others are closed in it), default signal handling
/// and an empty signal mask. It is reaped by `isRunning` or `waitUntilExit()`.
public final class ChildProcess: @unchecked Sendable {
    /// Where one of the child's output streams goes.
    public enum Output: Sendable {
        /// This process's own stream.
        case inherit
        /// `/dev/null`.
        case null
        /// A pipe; its read end is `standardOutput` / `standardError`.
        case pipe
    }

    public enum TerminationReason: Sendable, Equatable {
        case exit
        case uncaughtSignal
    }

    public let processIdentifier: Int32
    private let outputReader: FileHandle?
    private let errorReader: FileHandle?

    /// The read end of the child's stdout, which must have been `.pipe`.
    public var standardOutput: FileHandle { Self.reader(outputReader, "standardOutput") }
    /// The read end of the child's stderr, which must have been `.pipe`.
    public var standardError: FileHandle { Self.reader(errorReader, "standardError") }

    private let lock = NSLock()
    /// The `waitpid` status, once reaped.
    private var waitStatus: Int32?

    /// Starts `executable` (a path, not looked up in `PATH`) with `arguments`. `environment`
    /// replaces this process's environment when given; stdin is `/dev/null`.
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        standardOutput: Output = .inherit, standardError: Output = .inherit
    ) throws {
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        func null(_ flags: Int32) throws -> Int32 {
            let fd = open("/dev/null", flags | O_CLOEXEC)
            guard fd >= 0 else { throw DeltaError.posix("open", "/dev/null") }
            opened.append(fd)
            return fd
        }
        /// The descriptor the child gets, and the read end this process keeps for a pipe.
        func target(_ output: Output) throws -> (child: Int32, reader: FileHandle?) {
            switch output {
            case .inherit: return (-1, nil)
            case .null: return (try null(O_WRONLY), nil)
            case .pipe:
                var ends: [Int32] = [-1, -1]
                // Close-on-exec for other launchers; children launched here inherit 0–2 only anyway.
                guard pipe(&ends) == 0 else { throw DeltaError.posix("pipe", executable) }
                for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
                opened.append(ends[1])
                return (ends[1], FileHandle(fileDescriptor: ends[0], closeOnDealloc: true))
            }
        }
        let input = try null(O_RDONLY)
        let out = try target(standardOutput)
        let err = try target(standardError)
        let environment = environment ?? ProcessInfo.processInfo.environment
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envpBuffer in
                cdeltasys_spawn(
                    &pid, executable, argvBuffer.baseAddress, envpBuffer.baseAddress, directory, input, out.child,
                    err.child)
            }
        }
        guard result == 0 else { throw DeltaError.posix("spawn", executable, errno: result) }
        processIdentifier = pid
        outputReader = out.reader
        errorReader = err.reader
    }

    /// Whether the child has not exited yet (reaping it if it has).
    public var isRunning: Bool {
        lock.withLock {
            guard waitStatus == nil else { return false }
            var status: Int32 = 0
            let reaped = waitpid(processIdentifier, &status, WNOHANG)
            if reaped == processIdentifier {
                waitStatus = status
            } else if reaped == -1 && errno == ECHILD {
                // Reaped elsewhere (nothing here should): exited, status unknown (255), rather
                // than running forever for `waitUntilExit`.
                waitStatus = 255 << 8
            }
            return waitStatus == nil
        }
    }

    /// Blocks until the child has exited (polling every 5 ms, so `isRunning` never waits behind it).
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Blocks until the child has exited, returning the moment it does: for timing a command.
    /// `waitid` with `WNOWAIT` waits without reaping (reaping stays with `isRunning`, under the
    /// lock), so the end of a timing is not rounded up to a poll. Foundation's `Process` polls
    /// in steps of 50 ms, and with another child of it running, a 100 ms `deltasync push` was
    /// timed at 104 or 154 ms.
    public func waitForExit() {
        // Allocated, not `siginfo_t()`: zero-initialised C structs in these targets have tripped
        // `MemberImportVisibility` (a fresh build once resolved a test's `stat()` to CDispatch's copy).
        let info = UnsafeMutablePointer<siginfo_t>.allocate(capacity: 1)
        defer { info.deallocate() }
        while waitid(P_PID, id_t(processIdentifier), info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
        _ = isRunning
    }

    /// Sends `signal` to the child, unless it has already been reaped.
    public func send(_ signal: Int32) {
        lock.withLock {
            if waitStatus == nil { _ = kill(processIdentifier, signal) }
        }
    }

    /// SIGTERM.
    public func terminate() { send(SIGTERM) }

    /// The exit status, or the number of the signal that ended the child; call after it exited.
    public var terminationStatus: Int32 {
        let status = lock.withLock { waitStatus } ?? 0
        return Self.exited(status) ? (status >> 8) & 0xff : status & 0x7f
    }

    public var terminationReason: TerminationReason {
        Self.exited(lock.withLock { waitStatus } ?? 0) ? .exit : .uncaughtSignal
    }

    private static func reader(_ handle: FileHandle?, _ name: String) -> FileHandle {
        guard let handle else { preconditionFailure("\(name) was not started as .pipe") }
        return handle
    }

    /// Runs `executable` to completion and returns its exit status (or ending signal) and what it
    /// wrote. stderr is read on a thread of its own: a child that filled one pipe while this read
    /// the other to its end would wait forever.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil
    ) throws -> (status: Int32, stdout: Data, stderr: Data) {
        let process = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment, directory: directory,
            standardOutput: .pipe, standardError: .pipe)
        let errors = ConcurrentRead(process.standardError)
        let stdout = process.standardOutput.readDataToEndOfFile()
        let stderr = errors.wait()
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }

    /// WIFEXITED (a macro Swift does not import).
    private static func exited(_ status: Int32) -> Bool { status & 0x7f == 0 }
}

/// Reads a handle to its end on a thread of its own; `wait()` returns what was read.
private final class ConcurrentRead: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
