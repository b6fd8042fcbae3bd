import DeltaCore
import Foundation
import Glibc
public import Logging

/// `WORK_DIR` holds the token hashes and every workspace's content, so it is private to the
/// server's user whatever the umask: created 0700 (an existing one is tightened to 0700), and the
/// database and blobs inside are created 0600.
public enum WorkDirectory {
    /// Creates `path` 0700, or tightens an existing one to 0700.
    public static func prepare(_ path: String, logger: Logger) throws {
        try FileSystem.createDirectory(path, mode: 0o700)
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let mode = (attributes?[.posixPermissions] as? NSNumber)?.intValue else {
            throw DeltaError.posix("stat", path)
        }
        if mode & 0o077 != 0 {
            guard chmod(path, 0o700) == 0 else { throw DeltaError.posix("chmod", path) }
            logger.notice(
                "WORK_DIR was readable by other users; its mode is now 0700",
                metadata: ["work_dir": "\(path)", "previous_mode": "\(String(mode & 0o777, radix: 8))"]
            )
        }
    }

    /// The lock a running server holds on its `WORK_DIR` (`serve.lock`), so that a second server
    /// or `deltasync repair` cannot write the same copies at the same time.
    public final class Lock: Sendable {
        private let fd: Int32

        /// Takes the lock, or throws naming who holds it.
        public init(_ workDirectory: String, purpose: String) throws {
            let path = workDirectory + "/serve.lock"
            // Stored only once the lock is held: an init that throws with `fd` set runs `deinit`,
            // which closed the descriptor a second time, by then perhaps another thread's (a
            // test's server then linked files through a directory descriptor that named
            // another directory).
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw DeltaError.posix("open", path) }
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                if errno == EINTR { continue }
                close(fd)
                throw DeltaError(
                    .configuration,
                    "a deltasync server is running on \(workDirectory); \(purpose)"
                )
            }
            self.fd = fd
        }

        /// Lets the next server in; idempotent. The descriptor closes with the value.
        public func release() { flock(fd, LOCK_UN) }

        deinit { close(fd) }
    }
}
