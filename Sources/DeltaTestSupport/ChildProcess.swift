public import Foundation

extension Process {
    private static let launching = NSLock()

    /// `run()`, one launch at a time in this process: tests start child processes from many
    /// threads at once, and Foundation's `Process.run()` once crashed in a copy while another
    /// launch was under way.
    public func runAlone() throws {
        try Self.launching.withLock { try run() }
    }
}
