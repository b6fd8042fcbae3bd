import DeltaCore
import Dispatch
import Foundation
import Synchronization

/// A Unix socket in the state directory through which `deltasync status` and `deltasync push`
/// ask a running watcher for its live state (whatever `status` answers). The answer comes after
/// a quiescence barrier: every event the kernel has queued is read, batched, detected and
/// uploaded (or the question's wait passes: two seconds for `status`, a minute for `push`), so
/// "idle" means the server really has everything written before the question.
final class ControlChannel: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let closed = Atomic<Bool>(false)

    /// What is asked: `status` (answer within two seconds) or `push` (wait up to a minute for
    /// the watcher to be idle, since the answer stands in for a push).
    enum Question: String, Sendable {
        case status, push
    }

    init(path: String, status: @escaping @Sendable (Question) async -> ClientStatus) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeltaError.posix("socket", path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw DeltaError(.io, "state directory path too long for a control socket: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            Glibc.close(fd)
            throw DeltaError.posix("bind", path)
        }
        chmod(path, 0o600)
        let thread = Thread { [self] in self.acceptLoop(status: status) }
        thread.name = "deltasync-control"
        thread.start()
    }

    /// Runs until `close()`; the listening socket is closed here, when the loop has ended, so
    /// that `accept` is never called on a descriptor number another part of the process has
    /// been given since.
    private func acceptLoop(status: @escaping @Sendable (Question) async -> ClientStatus) {
        defer { Glibc.close(fd) }
        while !closed.load(ordering: .relaxed) {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            let word = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let question = Question(rawValue: word) ?? .status
            let done = DispatchSemaphore(value: 0)
            let answer = Mutex<[UInt8]>([])
            Task {
                let current = await status(question)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let data = (try? encoder.encode(current)) ?? Data()
                answer.withLock { $0 = Array(data) }
                done.signal()
            }
            done.wait()
            let bytes = answer.withLock { $0 }
            _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            Glibc.close(client)
        }
    }

    /// Stops answering: `shutdown` wakes the accept loop, which closes the socket as it ends.
    func close() {
        closed.store(true, ordering: .relaxed)
        shutdown(fd, Int32(SHUT_RDWR))
        unlink(path)
    }

    /// Asks the watcher behind `path`; nil when none answers.
    static func ask(_ path: String, _ question: Question = .status) -> Data? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array((question.rawValue + "\n").utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            data.append(contentsOf: chunk[0..<count])
        }
        return data.isEmpty ? nil : data
    }
}

#if canImport(Glibc)
    import Glibc
#endif
