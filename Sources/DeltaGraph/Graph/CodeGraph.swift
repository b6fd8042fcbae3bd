/// One file's change as the graph sees it: it exists now (with its facts when it is a source
/// file) or it does not.
public struct FileUpdate: Sendable {
    public var path: String
    public var exists: Bool
    /// Nil for a deleted file and for a file the graph does not parse.
    public var facts: FileFacts?
    /// The bytes of a configuration file (`GraphConfiguration.isConfigurationFile`).
    public var configuration: [UInt8]?

    public init(path: String, exists: Bool, facts: FileFacts? = nil, configuration: [UInt8]? = nil) {
        self.path = path
        self.exists = exists
        self.facts = facts
        self.configuration = configuration
    }
}

/// What one update of the graph invalidated (DESIGN §5, early cutoff).
public struct Invalidation: Sendable, Hashable {
    /// Files created, edited or deleted that the graph knows (source files, and other files
    /// something includes), sorted.
    public var changed: [String] = []
    /// Files whose cached analysis is stale, sorted: every changed file that still exists; every
    /// file whose imports now resolve differently; and the transitive dependents of each file
    /// whose interface changed (fingerprint, creation, deletion) or whose imports re-resolved.
    /// Deleted files are listed in `changed`, never here.
    public var invalidated: [String] = []
    /// Changed files whose interface fingerprint changed (or that appeared or disappeared).
    public var interfaceChanged: [String] = []
    /// Files not changed themselves whose imports resolve differently now.
    public var reresolved: [String] = []
}

/// A file's place in the graph, for queries.
public struct GraphNode: Sendable, Hashable {
    public var path: String
    public var language: Language
    public var fingerprint: String
    public var imports: [ImportSpec]
    public var package: String?
}

/// The dependency graph of one workspace: file nodes, resolved import edges both ways, and the
/// imports that resolve to nothing yet. Updated incrementally by `apply`; `CodeGraph(building:)`
/// builds the same graph from scratch (the invariant the random tests check). Symbols are not
/// held here (they live in the database); edges are (DESIGN §8 "Memory").
public struct CodeGraph: Sendable {
    private struct Node: Sendable {
        var language: Language
        var fingerprint: PackedFingerprint
        /// The imports, packed (`ImportSpec`s took about 40 bytes each plus a heap copy of every
        /// specifier longer than 15 bytes: a third of the live memory of a kernel tree's graph).
        var imports: [PackedImport]
        /// Python's `from X import a, b` names by position in `imports`; empty for most files.
        var importNames: [Int32: [String]] = [:]
        var package: String?
        /// Resolved targets, sorted and unique.
        var dependencies: [Int32] = []
        /// Indices into `imports` of those that resolve to nothing.
        var unresolved: [Int32] = []
    }

    /// An import as a node keeps it: its specifier is an id in the graph's `specifiers` table,
    /// shared by every file that imports the same name.
    private struct PackedImport: Sendable {
        var specifier: Int32
        var line: Int32
        var kind: ImportKind
    }

    /// Nodes by id, in an array: ids are dense and never reused, and a dictionary of 60,000
    /// nodes took twice the memory.
    private struct NodeTable: Sendable {
        private var slots: [Node?] = []
        private(set) var count = 0

        subscript(id: Int32) -> Node? {
            get { Int(id) < slots.count ? slots[Int(id)] : nil }
            set {
                let index = Int(id)
                if index >= slots.count {
                    guard newValue != nil else { return }
                    slots.append(contentsOf: repeatElement(nil, count: index + 1 - slots.count))
                }
                count += (newValue == nil ? 0 : 1) - (slots[index] == nil ? 0 : 1)
                slots[index] = newValue
            }
        }

        mutating func reserveCapacity(_ count: Int) { slots.reserveCapacity(count) }

        /// Every node with its id, in id order.
        var entries: some Sequence<(id: Int32, node: Node)> {
            slots.lazy.enumerated().compactMap { index, node in node.map { (Int32(index), $0) } }
        }
    }

    public private(set) var index = PathIndex()
    public private(set) var configuration = GraphConfiguration()
    private var configurationFiles: [String: [UInt8]] = [:]
    private var ids: [String: Int32] = [:]
    private var paths: [String] = []
    private var nodes = NodeTable()
    private var dependentsOf: [Int32: IDSet] = [:]
    /// Change key → files with an import that looked at a candidate of that key. Keyed by the
    /// key's 64-bit hash, so a key costs no string of its own (a kernel tree has 50,000 keys and
    /// half a million watches; the strings and `Set`s were 12 MB). Two keys would share a hash
    /// about once in 10^10 such trees.
    private var watchers: [Int: IDSet] = [:]
    /// Include-directory resolutions by specifier, for one `apply` (a kernel tree's 15,000
    /// resolutions kept between updates were 8 MB, a tenth of the graph).
    private var includeCache: [String: Resolution] = [:]
    /// Every import specifier seen, once (never shrinks: distinct names are few).
    private var specifiers: [String] = []
    private var specifierIDs: [String: Int32] = [:]

    public init() {}

    /// The graph of these files, built from scratch.
    public init(building files: [FileUpdate]) {
        self.init()
        apply(files)
    }

    /// Room for `files` paths at once: a build from scratch that knows how many files there are
    /// then never grows a table by doubling it (a kernel tree's tables grew into about twice their
    /// size, and each growth held the old table and the new at once).
    public mutating func reserveCapacity(files: Int) {
        ids.reserveCapacity(files)
        paths.reserveCapacity(files)
        nodes.reserveCapacity(files)
        index.reserveCapacity(files)
    }

    // MARK: - Queries

    public var nodeCount: Int { nodes.count }
    public var edgeCount: Int { nodes.entries.reduce(0) { $0 + $1.node.dependencies.count } }

    public func node(_ path: String) -> GraphNode? {
        guard let id = ids[path], let node = nodes[id] else { return nil }
        return GraphNode(
            path: path, language: node.language, fingerprint: node.fingerprint.text, imports: imports(of: node),
            package: node.package)
    }

    /// Whether the graph knows the path (a workspace file, source or not).
    public func contains(_ path: String) -> Bool { index.contains(path) }

    /// The imports of `path` that resolve to no workspace file.
    public func unresolvedImports(of path: String) -> [ImportSpec] {
        guard let id = ids[path], let node = nodes[id] else { return [] }
        return node.unresolved.map { importSpec(node, at: Int($0)) }
    }

    /// Files `path` imports, with their depth (1 = direct), breadth first, at most `depth` deep.
    public func dependencies(of path: String, depth: Int = 1) -> [(path: String, depth: Int)] {
        walk(from: path, depth: depth) { nodes[$0]?.dependencies ?? [] }
    }

    /// Files importing `path`, with their depth, breadth first, at most `depth` deep.
    public func dependents(of path: String, depth: Int = 1) -> [(path: String, depth: Int)] {
        walk(from: path, depth: depth) { dependentsOf[$0]?.ids ?? [] }
    }

    private func walk(from path: String, depth: Int, next: (Int32) -> [Int32]) -> [(path: String, depth: Int)] {
        guard let start = ids[path], depth > 0 else { return [] }
        var seen: Set<Int32> = [start]
        var result: [(path: String, depth: Int)] = []
        var frontier = [start]
        var level = 0
        while !frontier.isEmpty, level < depth {
            level += 1
            var following: [Int32] = []
            for id in frontier {
                for neighbour in next(id) where seen.insert(neighbour).inserted {
                    following.append(neighbour)
                }
            }
            following.sort { paths[Int($0)] < paths[Int($1)] }
            result += following.map { (paths[Int($0)], level) }
            frontier = following
        }
        return result
    }

    /// Every node with its resolved dependencies and unresolved specifiers, for comparing two
    /// graphs (the from-scratch invariant).
    public func canonical() -> [String: CanonicalNode] {
        var result: [String: CanonicalNode] = [:]
        for (id, node) in nodes.entries {
            result[paths[Int(id)]] = CanonicalNode(
                language: node.language, fingerprint: node.fingerprint.text,
                dependencies: node.dependencies.map { paths[Int($0)] }.sorted(),
                dependents: (dependentsOf[id]?.ids ?? []).map { paths[Int($0)] }.sorted(),
                unresolved: node.unresolved.map { specifiers[Int(node.imports[Int($0)].specifier)] }.sorted())
        }
        return result
    }

    public struct CanonicalNode: Sendable, Hashable {
        public var language: Language
        public var fingerprint: String
        public var dependencies: [String]
        public var dependents: [String]
        public var unresolved: [String]
    }

    // MARK: - Updating

    /// Applies the current state of the given files (the last update of a path wins) and says
    /// what that invalidated.
    @discardableResult
    public mutating func apply(_ updates: [FileUpdate]) -> Invalidation {
        defer { includeCache.removeAll() }
        var latest: [String: FileUpdate] = [:]
        for update in updates { latest[update.path] = update }
        let updates = latest.values.sorted { $0.path < $1.path }

        // 1. The paths and the configuration.
        var appearedOrGone: [String] = []
        var configurationChanged = false
        for update in updates {
            if update.exists != index.contains(update.path) {
                appearedOrGone.append(update.path)
                if update.exists { index.insert(update.path) } else { index.remove(update.path) }
            }
            if GraphConfiguration.isConfigurationFile(update.path) {
                let bytes = update.exists ? update.configuration ?? [] : nil
                if configurationFiles[update.path] != bytes {
                    configurationFiles[update.path] = bytes
                    configurationChanged = true
                }
            }
        }
        if configurationChanged {
            let updated = GraphConfiguration(files: configurationFiles)
            configurationChanged = updated != configuration
            configuration = updated
        }
        // 2. The nodes of the files themselves.
        var invalidation = Invalidation()
        var changedSources: Set<Int32> = []
        var seeds: Set<Int32> = []
        var deleted: Set<Int32> = []
        var formerDependents: [Int32: IDSet] = [:]
        let resolver = Resolver(index: index, configuration: configuration)
        for update in updates {
            let id = ids[update.path]
            let old = id.flatMap { nodes[$0] }
            if update.exists, let facts = update.facts {
                let id = intern(update.path)
                let fingerprint = PackedFingerprint(facts.fingerprint)
                if old?.fingerprint != fingerprint || old?.language != facts.language {
                    seeds.insert(id)
                    invalidation.interfaceChanged.append(update.path)
                }
                if let old, !configurationChanged { unwatch(id, old, resolver: resolver) }
                var node = Node(language: facts.language, fingerprint: fingerprint, imports: [])
                pack(facts.imports, into: &node)
                node.package = facts.package
                node.dependencies = old?.dependencies ?? []
                nodes[id] = node
                changedSources.insert(id)
                invalidation.changed.append(update.path)
            } else if let id, let old {
                seeds.insert(id)
                invalidation.interfaceChanged.append(update.path)
                if !configurationChanged { unwatch(id, old, resolver: resolver) }
                setDependencies(of: id, from: old.dependencies, to: [])
                nodes[id] = nil
                formerDependents[id] = dependentsOf[id]
                if !update.exists { deleted.insert(id) }
                invalidation.changed.append(update.path)
            } else if let id, let dependents = dependentsOf[id], !dependents.isEmpty {
                // A file the graph does not parse but something includes (an `.inc`, a `.S`).
                seeds.insert(id)
                formerDependents[id] = dependents
                if !update.exists { deleted.insert(id) }
                invalidation.changed.append(update.path)
                invalidation.interfaceChanged.append(update.path)
            }
        }

        // 3. Re-resolve the changed files and every import a new or gone path may answer.
        var toResolve = changedSources
        if configurationChanged {
            watchers.removeAll()
            toResolve.formUnion(nodes.entries.map(\.id))
        } else {
            for path in appearedOrGone {
                for key in Resolver.keys(forChangeOf: path) { toResolve.formUnion(watchers[key.hashValue]?.ids ?? []) }
            }
        }
        for id in toResolve.sorted() {
            guard var node = nodes[id] else { continue }
            let before = node.dependencies
            let (dependencies, unresolved, keys) = resolve(node, path: paths[Int(id)], resolver: resolver)
            node.dependencies = dependencies
            node.unresolved = unresolved
            nodes[id] = node
            if changedSources.contains(id) || configurationChanged {
                for key in keys { watchers[key.hashValue, default: IDSet(id)].insert(id) }
            }
            setDependencies(of: id, from: before, to: dependencies)
            if !changedSources.contains(id), before != dependencies {
                seeds.insert(id)
                invalidation.reresolved.append(paths[Int(id)])
            }
        }

        // 4. Early cutoff: only the changed files, plus the closure of what changed shape.
        var invalidated = changedSources.union(invalidation.reresolved.compactMap { ids[$0] })
        var frontier = Array(seeds)
        var seen = seeds
        while let id = frontier.popLast() {
            for dependent in (dependentsOf[id]?.ids ?? []) + (formerDependents[id]?.ids ?? [])
            where seen.insert(dependent).inserted {
                invalidated.insert(dependent)
                frontier.append(dependent)
            }
        }
        invalidated.subtract(deleted)
        invalidation.invalidated = invalidated.filter { nodes[$0] != nil || index.contains(paths[Int($0)]) }
            .map { paths[Int($0)] }.sorted()
        invalidation.changed.sort()
        invalidation.interfaceChanged.sort()
        invalidation.reresolved.sort()
        return invalidation
    }

    private mutating func pack(_ imports: [ImportSpec], into node: inout Node) {
        node.imports.reserveCapacity(imports.count)
        for (position, spec) in imports.enumerated() {
            let id: Int32
            if let known = specifierIDs[spec.specifier] {
                id = known
            } else {
                id = Int32(specifiers.count)
                specifiers.append(spec.specifier)
                specifierIDs[spec.specifier] = id
            }
            node.imports.append(
                PackedImport(specifier: id, line: Int32(clamping: spec.line), kind: spec.kind))
            if !spec.names.isEmpty { node.importNames[Int32(position)] = spec.names }
        }
    }

    private func importSpec(_ node: Node, at position: Int) -> ImportSpec {
        let packed = node.imports[position]
        return ImportSpec(
            specifier: specifiers[Int(packed.specifier)], kind: packed.kind, line: Int(packed.line),
            names: node.importNames[Int32(position)] ?? [])
    }

    private func imports(of node: Node) -> [ImportSpec] {
        node.imports.indices.map { importSpec(node, at: $0) }
    }

    private mutating func intern(_ path: String) -> Int32 {
        if let id = ids[path] { return id }
        let id = Int32(paths.count)
        paths.append(path)
        ids[path] = id
        return id
    }

    private mutating func setDependencies(of id: Int32, from before: [Int32], to after: [Int32]) {
        guard before != after else { return }
        let old = Set(before)
        let new = Set(after)
        for target in old.subtracting(new) {
            dependentsOf[target]?.remove(id)
            if dependentsOf[target]?.isEmpty == true { dependentsOf[target] = nil }
        }
        for target in new.subtracting(old) { dependentsOf[target, default: IDSet(id)].insert(id) }
    }

    /// Removes `id` from the watchers of every key its imports looked at (the keys depend on the
    /// import, the path and the configuration only, so they are recomputed, not stored).
    private mutating func unwatch(_ id: Int32, _ node: Node, resolver: Resolver) {
        for key in resolve(node, path: paths[Int(id)], resolver: resolver).keys {
            let hash = key.hashValue
            watchers[hash]?.remove(id)
            if watchers[hash]?.isEmpty == true { watchers[hash] = nil }
        }
    }

    private mutating func resolve(_ node: Node, path: String, resolver: Resolver) -> (
        dependencies: [Int32], unresolved: [Int32], keys: Set<String>
    ) {
        var targets = Set<Int32>()
        var unresolved: [Int32] = []
        var keys = Set<String>()
        for position in node.imports.indices {
            let spec = importSpec(node, at: position)
            let resolution: Resolution
            if node.language == .c || node.language == .cpp {
                resolution = resolveInclude(spec, importer: path, resolver: resolver)
            } else {
                resolution = resolver.resolve(spec, importer: path, language: node.language)
            }
            keys.formUnion(resolution.keys)
            if resolution.targets.isEmpty {
                unresolved.append(Int32(position))
            } else {
                for target in resolution.targets where target != path { targets.insert(intern(target)) }
            }
        }
        return (targets.sorted(), unresolved, keys)
    }

    /// C includes with the include-directory part cached per specifier.
    private mutating func resolveInclude(_ spec: ImportSpec, importer: String, resolver: Resolver) -> Resolution {
        var cache = includeCache
        includeCache = [:]
        defer { includeCache = cache }
        return resolver.resolveInclude(spec, importer: importer) { name in
            if let cached = cache[name] { return cached }
            let resolved = resolver.resolveInIncludeDirectories(name)
            cache[name] = resolved
            return resolved
        }
    }

}
