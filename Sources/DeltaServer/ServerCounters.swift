import Synchronization

/// Counters the upload path updates and `/metrics` and tests read.
public final class ServerCounters: Sendable {
    let uploadBytes = Atomic<Int64>(0)
    let inflated = Atomic<Int64>(0)
    let applied = Atomic<Int64>(0)
    let rejected = Atomic<Int64>(0)
    let discarded = Atomic<Int64>(0)
    let lastRejection = Mutex<String?>(nil)

    public init() {}

    /// Request-body bytes read by upload handlers (the "rejected after at most the limit" counter).
    public var uploadBytesRead: Int64 { uploadBytes.load(ordering: .relaxed) }
    /// Uncompressed bytes produced by the most recent bundle validation.
    public var inflatedBytes: Int64 { inflated.load(ordering: .relaxed) }
    public var bundlesApplied: Int64 { applied.load(ordering: .relaxed) }
    public var uploadsRejected: Int64 { rejected.load(ordering: .relaxed) }
    /// Body bytes read and thrown away after an early reject (lingering close), never counted
    /// in `uploadBytesRead`.
    public var uploadBytesDiscarded: Int64 { discarded.load(ordering: .relaxed) }
    /// `error.code` of the most recent rejected upload.
    public var lastRejectionCode: String? { lastRejection.withLock { $0 } }

    func reject(_ code: String) {
        rejected.add(1)
        lastRejection.withLock { $0 = code }
    }
}

extension Atomic where Value == Int64 {
    func add(_ amount: Int64) { _ = wrappingAdd(amount, ordering: .relaxed) }
    func set(_ value: Int64) { store(value, ordering: .relaxed) }
}
