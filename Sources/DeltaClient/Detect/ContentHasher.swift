public import DeltaCore
import Dispatch
import Foundation
import Synchronization

/// Hashes files with SHA-256 in parallel, one worker per core, reading in chunks (a file is
/// never held whole in memory).
public enum ContentHasher {
    /// Returns `sha256` per input index; `nil` where the file vanished or could not be read.
    /// Read once: Foundation reads the cgroup's CPU quota files on every call.
    static let cores = ProcessInfo.processInfo.activeProcessorCount

    public static func hash(_ paths: [String], progress: (@Sendable (Int64) -> Void)? = nil) -> [String?] {
        let results = Mutex([String?](repeating: nil, count: paths.count))
        let next = Atomic<Int>(0)
        let workers = max(1, min(cores, paths.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            let directory = ParentDirectory()
            while true {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < paths.count else { return }
                let digest = hashFile(paths[index], buffer: &buffer, directory: directory, progress: progress)
                results.withLock { $0[index] = digest }
            }
        }
        return results.withLock { $0 }
    }

    /// SHA-256 of one file.
    public static func hashFile(
        _ path: String, buffer: inout [UInt8], directory: ParentDirectory? = nil,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) -> String? {
        let fd = directory?.open(path, flags: O_RDONLY | O_CLOEXEC) ?? open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let file = RawFile(adopting: fd, path: path)
        var hasher = SHA256Hasher()
        while true {
            guard let count = try? buffer.withUnsafeMutableBytes({ raw in try file.read(into: raw) }) else {
                return nil
            }
            if count == 0 { break }
            buffer.withUnsafeBytes { raw in hasher.update(UnsafeRawBufferPointer(rebasing: raw[0..<count])) }
            progress?(Int64(count))
        }
        return hasher.finalize()
    }
}
