import DeltaClient
import Foundation
import Synchronization

/// Progress on a terminal: one line redrawn at most ten times a second (files scanned and
/// hashed, bytes sent, rate, ETA). Not a terminal: one plain line per phase.
final class ProgressDisplay: Sendable {
    private struct State {
        var lastDraw = ContinuousClock.now - .seconds(1)
        var lastPhase: PushProgress.Phase?
        var started = ContinuousClock.now
        var drewLine = false
    }

    private let state = Mutex(State())
    private let enabled: Bool
    private let terminal: Bool

    init(enabled: Bool) {
        self.enabled = enabled
        self.terminal = isatty(STDOUT_FILENO) == 1
    }

    func show(_ progress: PushProgress) {
        guard enabled else { return }
        let output: String? = state.withLock { state in
            let now = ContinuousClock.now
            if !terminal {
                guard progress.phase != state.lastPhase else { return nil }
                state.lastPhase = progress.phase
                return "\(progress.phase.rawValue)…\n"
            }
            guard now - state.lastDraw >= .milliseconds(100) || progress.phase != state.lastPhase else { return nil }
            state.lastDraw = now
            state.lastPhase = progress.phase
            state.drewLine = true
            let elapsed =
                Double((now - state.started).components.seconds) + Double((now - state.started).components.attoseconds)
                / 1e18
            var line =
                "\(progress.phase.rawValue): \(progress.filesScanned) files scanned, \(ByteCount.format(progress.bytesHashed)) hashed"
            if progress.bytesToSend > 0 {
                let rate = elapsed > 0 ? Double(progress.bytesSent) / elapsed : 0
                let remaining = rate > 0 ? Double(progress.bytesToSend - progress.bytesSent) / rate : 0
                line += ", \(ByteCount.format(progress.bytesSent))/\(ByteCount.format(progress.bytesToSend)) sent"
                line += " (\(ByteCount.format(Int64(rate)))/s, ETA \(Int(remaining.rounded()))s)"
                line += ", bundle \(progress.bundlesSent)/\(progress.bundlesTotal)"
            }
            if let retry = progress.retryMessage { line += " — \(retry)" }
            return "\r\u{1b}[2K" + line
        }
        if let output { FileHandle.standardOutput.write(Data(output.utf8)) }
    }

    func finish() {
        let drew = state.withLock { $0.drewLine }
        if enabled && terminal && drew { FileHandle.standardOutput.write(Data("\r\u{1b}[2K".utf8)) }
    }
}

enum ByteCount {
    static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
