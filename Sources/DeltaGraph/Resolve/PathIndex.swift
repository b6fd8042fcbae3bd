/// Every path of a workspace (source or not: an include may name any file), with the directory
/// structure the resolvers ask about: which directories exist, their child directories and
/// files, and which files end in a given pair of components.
public struct PathIndex: Sendable {
    public private(set) var files: Set<String> = []
    /// Directory → names of its child directories ("" is the root).
    private var childDirectories: [String: Set<String>] = [:]
    /// Directory → names of the files directly in it.
    private var directFiles: [String: Set<String>] = [:]
    /// The hash of `PathIndex.tail(path)` → files with that tail (for Java's package-path
    /// lookups), and maybe a few of another tail with the same hash: every lookup compares the
    /// paths it finds. Keyed by the hash, a key costs no string of its own.
    private var byTail: [Int: PathBucket] = [:]
    /// The same for directories.
    private var directoriesByTail: [Int: PathBucket] = [:]
    private var knownDirectories: Set<String> = []

    public init() {}

    public init(_ paths: some Sequence<String>) {
        for path in paths { insert(path) }
    }

    public func contains(_ path: String) -> Bool { files.contains(path) }

    public func isDirectory(_ path: String) -> Bool {
        path.isEmpty || knownDirectories.contains(path)
    }

    public mutating func insert(_ path: String) {
        guard files.insert(path).inserted else { return }
        let (directory, name) = Self.split(path)
        directFiles[directory, default: []].insert(name)
        PathBucket.insert(path, into: &byTail)
        var child = directory
        while !child.isEmpty, knownDirectories.insert(child).inserted {
            PathBucket.insert(child, into: &directoriesByTail)
            let (parent, childName) = Self.split(child)
            childDirectories[parent, default: []].insert(childName)
            child = parent
        }
    }

    public mutating func remove(_ path: String) {
        guard files.remove(path) != nil else { return }
        let (directory, name) = Self.split(path)
        directFiles[directory]?.remove(name)
        if directFiles[directory]?.isEmpty == true { directFiles[directory] = nil }
        PathBucket.remove(path, from: &byTail)
        var child = directory
        while !child.isEmpty, directFiles[child] == nil, childDirectories[child]?.isEmpty ?? true {
            childDirectories[child] = nil
            knownDirectories.remove(child)
            PathBucket.remove(child, from: &directoriesByTail)
            let (parent, childName) = Self.split(child)
            childDirectories[parent]?.remove(childName)
            if childDirectories[parent]?.isEmpty == true { childDirectories[parent] = nil }
            child = parent
        }
    }

    /// Files directly in `directory`, as paths, sorted.
    public func files(in directory: String) -> [String] {
        (directFiles[directory] ?? []).map { Self.join(directory, $0) }.sorted()
    }

    /// Files anywhere below `directory`, sorted.
    public func files(under directory: String) -> [String] {
        var found: [String] = []
        var pending = [directory]
        while let next = pending.popLast() {
            found += (directFiles[next] ?? []).map { Self.join(next, $0) }
            pending += (childDirectories[next] ?? []).map { Self.join(next, $0) }
        }
        return found.sorted()
    }

    /// Files whose path is `suffix` or ends in `/suffix`.
    public func files(endingIn suffix: String) -> [String] {
        (byTail[PathBucket.key(suffix)]?.paths ?? []).filter { $0 == suffix || $0.hasSuffix("/" + suffix) }.sorted()
    }

    /// Directories whose path is `suffix` or ends in `/suffix`.
    public func directories(endingIn suffix: String) -> [String] {
        (directoriesByTail[PathBucket.key(suffix)]?.paths ?? []).filter { $0 == suffix || $0.hasSuffix("/" + suffix) }
            .sorted()
    }

    /// The existing directories matching `pattern`, whose segments may be `*` (one segment).
    public func directories(matching pattern: String) -> [String] {
        var current = [""]
        for segment in pattern.split(separator: "/", omittingEmptySubsequences: true) {
            var next: [String] = []
            for directory in current {
                guard let children = childDirectories[directory] else { continue }
                if segment == "*" {
                    next += children.sorted().map { Self.join(directory, $0) }
                } else if children.contains(String(segment)) {
                    next.append(Self.join(directory, String(segment)))
                }
            }
            current = next
            if current.isEmpty { break }
        }
        return current
    }

    // MARK: - Path helpers

    /// (directory, name); the directory of a top-level path is "".
    public static func split(_ path: String) -> (String, String) {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    public static func directory(of path: String) -> String { split(path).0 }

    public static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : directory + "/" + name
    }

    /// The last two components (`linux/list.h` of `include/linux/list.h`), the key under which
    /// a path's creation or deletion is matched against the imports that could name it.
    public static func tail(_ path: String) -> String { String(tailSlice(path)) }

    /// `tail(path)` as a slice of `path`.
    static func tailSlice(_ path: String) -> Substring {
        let utf8 = path.utf8
        guard let last = utf8.lastIndex(of: UInt8(ascii: "/")),
            let previous = utf8[..<last].lastIndex(of: UInt8(ascii: "/"))
        else { return path[...] }
        return path[path.index(after: previous)...]
    }

    /// Resolves `.` and `..` segments and doubled slashes; nil when the path leaves the root.
    public static func normalize(_ path: String) -> String? {
        guard
            path.contains("./") || path.contains("//") || path.hasPrefix("/") || path.hasSuffix("/.")
                || path.hasSuffix("/..") || path == "." || path == ".."
        else { return path }
        var parts: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            } else {
                parts.append(segment)
            }
        }
        return parts.joined(separator: "/")
    }
}

/// The paths under one tail's hash: almost always one, held without a set of its own (a string
/// key and a set per path were a fifth of a 100,000-file workspace's graph in memory).
enum PathBucket: Sendable {
    case one(String)
    case many(Set<String>)

    var paths: [String] {
        switch self {
        case .one(let path): return [path]
        case .many(let paths): return Array(paths)
        }
    }

    /// The key of `path`'s tail.
    static func key(_ path: String) -> Int { PathIndex.tailSlice(path).hashValue }

    /// Adds `path` under its tail.
    static func insert(_ path: String, into buckets: inout [Int: PathBucket]) {
        let key = Self.key(path)
        switch buckets[key] {
        case nil: buckets[key] = .one(path)
        case .one(let existing) where existing == path: break
        case .one(let existing): buckets[key] = .many([existing, path])
        case .many(var paths):
            buckets[key] = nil  // the set is then uniquely referenced and grows in place
            paths.insert(path)
            buckets[key] = .many(paths)
        }
    }

    /// Removes `path` from under its tail, and the tail when nothing is left under it.
    static func remove(_ path: String, from buckets: inout [Int: PathBucket]) {
        let key = Self.key(path)
        switch buckets[key] {
        case .one(let existing) where existing == path: buckets[key] = nil
        case .many(var paths):
            buckets[key] = nil
            paths.remove(path)
            if paths.count == 1, let last = paths.first {
                buckets[key] = .one(last)
            } else if !paths.isEmpty {
                buckets[key] = .many(paths)
            }
        default: break
        }
    }
}
