import Foundation
import Glibc

/// A plain TCP connection to `127.0.0.1` for requests no HTTP client will send (malformed
/// chunking, a body that keeps coming after the reply).
///
/// The socket calls block, so every call runs on a Dispatch thread: tests share the process
/// with in-process servers, and a blocked cooperative thread (two here) would stall them.
public final class RawHTTPConnection: @unchecked Sendable {
    private let fd: Int32

    public init(port: Int) throws {
        // Stored only once connected: an init that throws with `fd` set runs `deinit`, which
        // would close it a second time.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    deinit { close(fd) }

    /// Writes all of `bytes`; `false` once the peer has closed or reset the connection.
    @discardableResult
    public func write(_ bytes: [UInt8]) async -> Bool {
        await Self.offload { self.writeBlocking(bytes) }
    }

    @discardableResult
    public func write(_ text: String) async -> Bool { await write(Array(text.utf8)) }

    /// Reads until the peer closes the connection (or the 60 s timeout).
    public func readToEnd() async -> String {
        await Self.offload { self.readToEndBlocking() }
    }

    /// Reads what arrives next (one `recv`; empty when the peer closed or 60 s passed).
    public func readSome() async -> String {
        await Self.offload {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
        }
    }

    private static func offload<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }

    private func writeBlocking(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 {
                if written < 0 && errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    private func readToEndBlocking() -> String {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 {
                if count < 0 && errno == EINTR { continue }
                break
            }
            out.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
