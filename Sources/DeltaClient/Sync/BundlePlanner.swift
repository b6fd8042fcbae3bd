import DeltaCore

/// Splits a change set into bundles that fit the server's published limits.
///
/// Operations are ordered moves, deletes, then creates and updates, so each bundle leaves a
/// valid tree: a move reads its source before anything replaces it, and a directory's files are
/// deleted before a file takes its place. For a compatible-core server moves carry their content,
/// so replaying one never depends on the source still being there.
struct BundlePlanner {
    /// One bundle to write: its entries and the file-table changes it carries.
    struct Planned: Sendable {
        var entries: [BundleWriter.Entry] = []
        var upserts: [TrackedFile] = []
        var deletes: [String] = []
        var contentBytes: Int64 = 0
        /// Every path touched (a move's source too).
        var paths: [String] = []
    }

    let root: String
    let budgetBytes: Int64
    let maxEntries: Int
    let movesCarryContent: Bool

    init(root: String, info: ServerInfo, movesCarryContent: Bool = false) {
        self.root = root
        self.movesCarryContent = movesCarryContent
        let cap = min(info.maxBundleSizeMB << 20, info.maxUncompressedBytes, Self.targetBytes)
        budgetBytes = max(1 << 20, cap - (1 << 20))
        maxEntries = max(16, info.maxEntries - 8)
    }

    /// Bundles are cut at 16 MiB of content even when the server takes more: the first upload
    /// starts sooner, the server checks one bundle while it applies the one before, and its
    /// memory stays low. With 100 MiB bundles a first push of 100,000 files took ~15% longer
    /// and the server's peak memory was ~40 MiB higher.
    static let targetBytes: Int64 = 16 << 20

    /// Per-entry tar overhead (header + padding) and per-operation metadata, for the budget.
    static let entryOverhead: Int64 = 1024
    static let operationOverhead: Int64 = 300

    /// What one operation counts against the budget.
    static func cost(contentBytes size: Int64, hasContent: Bool) -> Int64 {
        size + (hasContent ? entryOverhead : 0) + operationOverhead
    }

    /// Whether an operation costing `added` starts a new bundle after `entries` costing `cost`.
    func startsBundle(after cost: Int64, entries: Int, adding added: Int64) -> Bool {
        entries > 0 && (cost + added > budgetBytes || entries + 1 > maxEntries)
    }

    /// Cuts files to be created, of these content sizes in this order, where ``plan(_:)`` would
    /// cut their bundles: each run makes one bundle (a first push hashes and queues a run while
    /// the runs before it upload).
    func runs(contentSizes sizes: [Int64]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start = 0
        var cost: Int64 = 0
        for (index, size) in sizes.enumerated() {
            let added = Self.cost(contentBytes: size, hasContent: true)
            if startsBundle(after: cost, entries: index - start, adding: added) {
                runs.append(start..<index)
                start = index
                cost = 0
            }
            cost += added
        }
        if start < sizes.count { runs.append(start..<sizes.count) }
        return runs
    }

    func plan(_ changes: ChangeSet) -> [Planned] {
        let rank: [OperationKind: Int] = [.moved: 0, .deleted: 1, .created: 2, .updated: 2]
        let ordered = changes.changes.enumerated().sorted { lhs, rhs in
            let left = rank[lhs.element.operation.operation] ?? 3
            let right = rank[rhs.element.operation.operation] ?? 3
            return left == right ? lhs.offset < rhs.offset : left < right
        }.map(\.element)
        var bundles: [Planned] = []
        var current = Planned()
        var cost: Int64 = 0
        for change in ordered {
            let operation = change.operation
            let hasContent =
                operation.operation == .created || operation.operation == .updated
                || (movesCarryContent && operation.operation == .moved)
            let size = hasContent ? (change.state?.size ?? 0) : 0
            let added = Self.cost(contentBytes: size, hasContent: hasContent)
            if startsBundle(after: cost, entries: current.entries.count, adding: added) {
                bundles.append(current)
                current = Planned()
                cost = 0
            }
            cost += added
            current.contentBytes += size
            let content: BundleContent? = hasContent ? .file(path: root + "/" + operation.path, size: size) : nil
            current.entries.append(
                BundleWriter.Entry(
                    operation: operation, content: content,
                    hashedAs: hasContent && change.settled ? change.state?.fingerprint : nil))
            current.paths.append(operation.path)
            if let source = operation.sourcePath { current.paths.append(source) }
            switch operation.operation {
            case .created, .updated:
                if let state = change.state { current.upserts.append(state) }
            case .moved:
                if let state = change.state { current.upserts.append(state) }
                if let source = operation.sourcePath { current.deletes.append(source) }
            case .deleted:
                current.deletes.append(operation.path)
            }
        }
        if !current.entries.isEmpty { bundles.append(current) }
        return bundles
    }
}
