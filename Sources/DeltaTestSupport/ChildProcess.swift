import CDeltaSys
public import Foundation

extension Process {
    private static let launching = NSLock()

    /// Foundation's `Process.run()` lists `/proc/self/fd` (`findMaximumOpenFromProcSelfFD`) and
    /// copies each `dirent` whole (280 bytes) out of glibc's directory buffer, past the end of
    /// the last, short entry. When that buffer sits at the very end of a thread's malloc arena,
    /// the copy reads into the unmapped page after it: the test process crashed in that
    /// `memmove` (`Bad pointer dereference` at a page boundary) about once in ten full runs.
    /// Allocations from 32 KiB up are made with `mmap` in the test process instead, so the
    /// 32 KiB directory buffer always has the rest of its last page after it.
    private static let directoryBuffersAreMapped: Void = {
        _ = cdeltasys_set_mmap_threshold(32 << 10)
    }()

    /// `run()`, one launch at a time in this process, with the directory buffer that `run()`
    /// reads `/proc/self/fd` into kept off the end of a heap (see `directoryBuffersAreMapped`).
    ///
    /// The threshold alone did not do it: glibc cuts a large request from the heap's top chunk
    /// when the top is big enough and maps memory only when it must grow, so the buffer could
    /// still end where the heap's mapped part ends (the crash came back once in a full run).
    /// Chunks of the buffer's size, each with a live block after it, are therefore freed just
    /// before the launch, for `opendir` to reuse. One was not enough (the crash came back in a
    /// CI run): `run()` allocates before it lists the directory, and a small request can split
    /// the freed chunk, so eight are freed. The overread only reaches past the buffer when the
    /// listing fills it, at about 1,300 open descriptors; a full parallel test run holds over
    /// 2,000 at its peak.
    public func runAlone() throws {
        Self.directoryBuffersAreMapped
        try Self.launching.withLock {
            let guardBlock = cdeltasys_hold_directory_guard()
            defer { cdeltasys_release_directory_guard(guardBlock) }
            try run()
        }
    }
}
