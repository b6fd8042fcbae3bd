import CoreMetrics
import Synchronization

/// Counters the upload path updates; tests read them directly and `/metrics` exports them
/// through `ServerMetrics` (swift-metrics), which they also feed.
public final class ServerCounters: Sendable {
    private let uploadBytes = Atomic<Int64>(0)
    private let inflated = Atomic<Int64>(0)
    private let applied = Atomic<Int64>(0)
    private let rejected = Atomic<Int64>(0)
    private let discarded = Atomic<Int64>(0)
    private let waiting = Atomic<Int64>(0)
    private let lastRejection = Mutex<String?>(nil)
    public let metrics: ServerMetrics
    // Made once: the upload path updates them per received chunk.
    private let bytesReadMetric: CoreMetrics.Counter
    private let bytesDiscardedMetric: CoreMetrics.Counter
    private let appliedMetric: CoreMetrics.Counter

    public init(metrics: ServerMetrics = ServerMetrics()) {
        self.metrics = metrics
        bytesReadMetric = metrics.counter("deltasync_upload_bytes_read_total")
        bytesDiscardedMetric = metrics.counter("deltasync_upload_bytes_discarded_total")
        appliedMetric = metrics.counter("deltasync_bundles_applied_total")
    }

    /// Request-body bytes read by upload handlers (the "rejected after at most the limit" counter).
    public var uploadBytesRead: Int64 { uploadBytes.load(ordering: .relaxed) }
    /// Uncompressed bytes produced by the most recent bundle validation.
    public var inflatedBytes: Int64 { inflated.load(ordering: .relaxed) }
    public var bundlesApplied: Int64 { applied.load(ordering: .relaxed) }
    public var uploadsRejected: Int64 { rejected.load(ordering: .relaxed) }
    /// Body bytes read and thrown away after an early reject (lingering close), never counted
    /// in `uploadBytesRead`.
    public var uploadBytesDiscarded: Int64 { discarded.load(ordering: .relaxed) }
    /// Uploads received and checked that wait for an earlier one to the same workspace (a
    /// client with two in flight) before they apply, or, sent again, for their first copy.
    public var uploadsWaiting: Int64 { waiting.load(ordering: .relaxed) }
    /// `error.code` of the most recent rejected upload.
    public var lastRejectionCode: String? { lastRejection.withLock { $0 } }

    func readUploadBytes(_ count: Int) {
        uploadBytes.wrappingAdd(Int64(count), ordering: .relaxed)
        bytesReadMetric.increment(by: count)
    }

    func discardUploadBytes(_ count: Int) {
        discarded.wrappingAdd(Int64(count), ordering: .relaxed)
        bytesDiscardedMetric.increment(by: count)
    }

    func uploadWaits(_ delta: Int64) { waiting.wrappingAdd(delta, ordering: .relaxed) }

    func setInflated(_ bytes: Int64) { inflated.store(bytes, ordering: .relaxed) }

    func bundleApplied(duration: Duration) {
        applied.wrappingAdd(1, ordering: .relaxed)
        appliedMetric.increment()
        metrics.bundleApplied(duration: duration)
    }

    func reject(_ code: String) {
        rejected.wrappingAdd(1, ordering: .relaxed)
        lastRejection.withLock { $0 = code }
        metrics.counter("deltasync_uploads_rejected_total", [("code", code)]).increment()
    }
}
