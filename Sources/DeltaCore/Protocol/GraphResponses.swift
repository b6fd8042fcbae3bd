/// Replies of the code graph API (`/api/v1/graph/…`, DESIGN §8 "Graph details").

/// A file reached from the queried one and how many import steps away (1 = direct).
public struct GraphPathResult: Sendable, Hashable, Codable {
    public var path: String
    public var depth: Int

    public init(path: String, depth: Int) {
        self.path = path
        self.depth = depth
    }
}

/// An import that resolves to no workspace file (yet).
public struct UnresolvedImport: Sendable, Hashable, Codable {
    public var specifier: String
    public var line: Int

    public init(specifier: String, line: Int) {
        self.specifier = specifier
        self.line = line
    }
}

/// `GET /api/v1/graph/dependents` and `/dependencies`.
public struct GraphPathsResponse: Sendable, Hashable, Codable {
    public var workspace: String
    public var path: String
    public var indexedSequence: Int64
    public var results: [GraphPathResult]
    public var unresolved: [UnresolvedImport]

    public init(
        workspace: String, path: String, indexedSequence: Int64, results: [GraphPathResult],
        unresolved: [UnresolvedImport]
    ) {
        self.workspace = workspace
        self.path = path
        self.indexedSequence = indexedSequence
        self.results = results
        self.unresolved = unresolved
    }

    enum CodingKeys: String, CodingKey {
        case workspace, path, results, unresolved
        case indexedSequence = "indexed_sequence"
    }
}

/// A definition as the API reports it.
public struct GraphSymbol: Sendable, Hashable, Codable {
    public var name: String
    public var kind: String
    public var line: Int
    public var signature: String

    public init(name: String, kind: String, line: Int, signature: String) {
        self.name = name
        self.kind = kind
        self.line = line
        self.signature = signature
    }
}

/// `GET /api/v1/graph/symbols?path=`.
public struct GraphSymbolsResponse: Sendable, Hashable, Codable {
    public var path: String
    public var language: String
    public var fingerprint: String
    public var symbols: [GraphSymbol]

    public init(path: String, language: String, fingerprint: String, symbols: [GraphSymbol]) {
        self.path = path
        self.language = language
        self.fingerprint = fingerprint
        self.symbols = symbols
    }
}

/// One hit of `GET /api/v1/graph/search?q=`; `match` is `exact`, `prefix` or `substring`.
public struct GraphSearchResult: Sendable, Hashable, Codable {
    public var name: String
    public var kind: String
    public var path: String
    public var line: Int
    public var match: String

    public init(name: String, kind: String, path: String, line: Int, match: String) {
        self.name = name
        self.kind = kind
        self.path = path
        self.line = line
        self.match = match
    }
}

public struct GraphSearchResponse: Sendable, Hashable, Codable {
    public var results: [GraphSearchResult]

    public init(results: [GraphSearchResult]) { self.results = results }
}

/// How one file's definitions changed (names only).
public struct SymbolDeltaEntry: Sendable, Hashable, Codable {
    public var path: String
    public var added: [String]
    public var removed: [String]
    public var changed: [String]

    public init(path: String, added: [String], removed: [String], changed: [String]) {
        self.path = path
        self.added = added
        self.removed = removed
        self.changed = changed
    }
}

/// What indexing the log entries `from_sequence...to_sequence` changed and invalidated. Lists
/// hold at most `InvalidationRecord.listLimit` paths (`truncated` says when one was cut); the
/// counts are always whole.
public struct InvalidationRecord: Sendable, Hashable, Codable {
    public static let listLimit = 1000

    public var fromSequence: Int64
    public var toSequence: Int64
    public var changed: [String]
    public var changedCount: Int
    public var symbolDelta: [SymbolDeltaEntry]
    public var invalidated: [String]
    public var invalidatedCount: Int
    /// `extract`, `update`, `persist`, `total`, and `applied_to_indexed` (from the last bundle's
    /// commit to this record's), in milliseconds.
    public var timingsMs: [String: Double]
    public var truncated: Bool

    public init(
        fromSequence: Int64, toSequence: Int64, changed: [String], changedCount: Int, symbolDelta: [SymbolDeltaEntry],
        invalidated: [String], invalidatedCount: Int, timingsMs: [String: Double], truncated: Bool
    ) {
        self.fromSequence = fromSequence
        self.toSequence = toSequence
        self.changed = changed
        self.changedCount = changedCount
        self.symbolDelta = symbolDelta
        self.invalidated = invalidated
        self.invalidatedCount = invalidatedCount
        self.timingsMs = timingsMs
        self.truncated = truncated
    }

    enum CodingKeys: String, CodingKey {
        case changed, invalidated, truncated
        case fromSequence = "from_sequence"
        case toSequence = "to_sequence"
        case changedCount = "changed_count"
        case symbolDelta = "symbol_delta"
        case invalidatedCount = "invalidated_count"
        case timingsMs = "timings_ms"
    }
}

/// `GET /api/v1/graph/invalidations?since=`.
public struct InvalidationsResponse: Sendable, Hashable, Codable {
    public var records: [InvalidationRecord]
    public var hasMore: Bool

    public init(records: [InvalidationRecord], hasMore: Bool) {
        self.records = records
        self.hasMore = hasMore
    }

    enum CodingKeys: String, CodingKey {
        case records
        case hasMore = "has_more"
    }
}
