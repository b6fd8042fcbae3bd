#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Dispatch
import Synchronization

/// Splits a walk over the cores: the starting directory is read on the calling thread, and its
/// subdirectories are walked by one worker per core, each taking the next unclaimed one.
///
/// Most of a scan is `fstatat` and `getdents` time in the kernel, which scales with threads;
/// git spreads its index `lstat`s the same way. Results are spliced back at the position each
/// subdirectory had among its siblings, so the output order is the same as a sequential walk.
enum ParallelWalk {
    /// Walks the directory open at `fd` (taking ownership of it), whose path is `start`.
    static func run(ignore: IgnoreRules, start: [UInt8], directoryFD fd: Int32, scope: IgnoreScope) -> ScanResult {
        // The top-level walk closes `fd` when done; the workers open subdirectories from a copy.
        let parentFD = dup(fd)
        var top = TreeWalk(ignore: ignore, startingAt: start, deferringSubdirectories: parentFD >= 0)
        top.visit(directoryFD: fd, scope: scope)
        guard parentFD >= 0 else { return top.result }
        defer { close(parentFD) }
        let deferred = top.deferred ?? []
        if deferred.isEmpty { return top.result }

        let slots = Slots(count: deferred.count)
        let workers = min(deferred.count, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let index = slots.claim() {
                let directory = deferred[index]
                var walk = TreeWalk(ignore: ignore, startingAt: directory.path)
                let name = Array(directory.path[directory.nameStart...]) + [0]
                name.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { cName in
                        if let base = cName.baseAddress {
                            walk.descend(into: base, of: parentFD, scope: directory.scope)
                        }
                    }
                }
                slots.store(walk.result, at: index)
            }
        }
        return merge(top.result, deferred, slots.take())
    }

    /// Inserts each subdirectory's results where the top-level walk left room for them.
    private static func merge(_ top: ScanResult, _ deferred: [TreeWalk.DeferredDirectory], _ parts: [ScanResult])
        -> ScanResult
    {
        var merged = ScanResult(directoryCount: top.directoryCount)
        merged.files.reserveCapacity(parts.reduce(top.files.count) { $0 + $1.files.count })
        merged.directories = top.directories
        merged.isIncomplete = top.isIncomplete
        var fileCursor = 0
        var skippedCursor = 0
        for (directory, part) in zip(deferred, parts) {
            merged.files += top.files[fileCursor..<directory.filePosition]
            merged.skipped += top.skipped[skippedCursor..<directory.skippedPosition]
            fileCursor = directory.filePosition
            skippedCursor = directory.skippedPosition
            merged.files += part.files
            merged.skipped += part.skipped
            merged.directoryCount += part.directoryCount
            merged.directories += part.directories
            merged.isIncomplete = merged.isIncomplete || part.isIncomplete
        }
        merged.files += top.files[fileCursor...]
        merged.skipped += top.skipped[skippedCursor...]
        return merged
    }

    /// Hands out subdirectory indices and collects the results, from any thread.
    private final class Slots: Sendable {
        private let next = Atomic<Int>(0)
        private let count: Int
        private let results: Mutex<[ScanResult]>

        init(count: Int) {
            self.count = count
            self.results = Mutex(Array(repeating: ScanResult(), count: count))
        }

        func claim() -> Int? {
            let index = next.add(1, ordering: .relaxed).oldValue
            return index < count ? index : nil
        }

        func store(_ result: ScanResult, at index: Int) {
            results.withLock { $0[index] = result }
        }

        func take() -> [ScanResult] {
            results.withLock { $0 }
        }
    }
}
