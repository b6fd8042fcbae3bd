import DeltaCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One `push` or `watch` at a time per state directory: an exclusive `flock` on
/// `session.lock`, held for the life of the session and released by the kernel when the process
/// ends (however it ends). The file names the holder's pid for the error message.
public final class SessionLock: Sendable {
    private let fd: Int32

    /// Takes the lock or throws `STATE_LOCKED` naming the directory and the holder.
    public init(directory: String) throws {
        let path = directory + "/session.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DeltaError.posix("open", path) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let holder = Self.holder(fd)
            close(fd)
            throw DeltaError(
                .stateLocked,
                "\(directory) is in use by another deltasync push or watch\(holder.map { " (pid \($0))" } ?? ""): "
                    + "wait for it to finish or stop it, or give this run its own --state-dir"
            )
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Lets the next session in before this object goes away (a finished `watch` may still be
    /// referenced by a status question in flight). Idempotent.
    public func release() { flock(fd, LOCK_UN) }

    private static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int(text) != nil ? text : nil
    }
}
