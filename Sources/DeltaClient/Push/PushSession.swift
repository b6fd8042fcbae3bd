import DeltaCore
import Foundation
public import Logging

/// One `deltasync push`: prepare against the server, scan everything, queue bundles, drain.
public final class PushSession: Sendable {
    public let configuration: PushConfiguration
    let logger: Logger
    let progress: @Sendable (PushProgress) -> Void

    public init(configuration: PushConfiguration, logger: Logger, progress: @escaping @Sendable (PushProgress) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.progress = progress
    }

    /// Runs the push to completion (or throws a `DeltaError` saying what to do).
    public func run() async throws -> PushReport {
        let started = ContinuousClock.now
        let engine = try SyncEngine(configuration: configuration, logger: logger, progress: progress)
        var report = PushReport()
        // A reconciliation or a file that changed under us starts a new round; bounded so it ends.
        for round in 0..<4 {
            let prepared = try await engine.prepare()
            report.workspace = prepared.status.workspace
            report.resynced = report.resynced || prepared.resynced
            var detected = PushReport()
            let changes = try engine.detectAll(report: &detected)
            report.filesScanned = detected.filesScanned
            report.filesHashed += detected.filesHashed
            report.skipped = detected.skipped
            (report.created, report.updated, report.deleted, report.moved) =
                (detected.created, detected.updated, detected.deleted, detected.moved)
            do {
                try engine.enqueue(changes)
            } catch let error as DeltaError where error.details["changed"] == .bool(true) && round < 3 {
                logger.info("a file changed while bundling; scanning again", metadata: ["reason": "\(error.message)"])
                continue
            }
            if try await engine.drain(report: &report) { break }
        }
        engine.update { $0.phase = .done }
        report.durationMilliseconds = Double(started.duration(to: .now).nanoseconds) / 1e6
        try engine.state.setMeta("last_push_at", ISO8601DateFormatter().string(from: Date()))
        return report
    }
}
