import CoreMetrics
import Prometheus

/// The server's metrics, recorded through swift-metrics and rendered by swift-prometheus for
/// `/metrics`. Each server has its own registry (no global bootstrap: tests run several servers
/// in one process, and an embedding application keeps its own metrics system).
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let latency: [Duration] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
            .seconds(10), .seconds(30),
        ]
        factory.defaultDurationHistogramBuckets = latency
        self.factory = factory
    }

    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
    }

    func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
    }

    func timer(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: label, dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory)
    }

    /// The Prometheus text exposition of everything recorded.
    func render() -> [UInt8] { registry.emitToBuffer() }

    // MARK: - What the server records

    func requestFinished(method: String, route: String, status: Int, duration: Duration) {
        counter("deltasync_http_requests_total", [("method", method), ("route", route), ("status", String(status))])
            .increment()
        timer("deltasync_http_request_duration_seconds", [("method", method), ("route", route)])
            .recordNanoseconds(Self.nanoseconds(duration))
    }

    func bundleApplied(duration: Duration) {
        timer("deltasync_apply_duration_seconds").recordNanoseconds(Self.nanoseconds(duration))
    }

    func streamEventsSent(_ count: Int) {
        counter("deltasync_stream_events_sent_total").increment(by: count)
    }

    func streamEnded(reason: String) {
        counter("deltasync_stream_disconnects_total", [("reason", reason)]).increment()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
