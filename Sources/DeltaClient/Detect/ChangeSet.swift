public import DeltaCore

/// What changed between the base (what the server has) and the workspace on disk.
public struct ChangeSet: Sendable {
    /// One change, with the file's new state where it has one.
    public struct Change: Sendable, Hashable {
        public var operation: BundleOperation
        /// The file's state after the change (created, updated, moved).
        public var state: TrackedFile?
        /// Whether the file had settled when it was hashed (`ChangeDetector.settledWindow`): its
        /// `state`'s stat then stands for the hashed content, and the bundle writer checks that
        /// stat instead of hashing the file again.
        public var settled = false
    }

    public var changes: [Change] = []
    /// Files whose stat changed but whose content did not: only their fingerprint is refreshed.
    public var refreshed: [TrackedFile] = []
    /// Paths on disk that cannot be synced (too large, vanished mid-scan).
    public var skipped: [(path: String, reason: String)] = []

    public var isEmpty: Bool { changes.isEmpty }

    public func count(_ kind: OperationKind) -> Int { changes.filter { $0.operation.operation == kind }.count }
}
