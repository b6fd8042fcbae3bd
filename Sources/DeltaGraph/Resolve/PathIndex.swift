/// Every path of a workspace (source or not: an include may name any file), with the directory
/// structure the resolvers ask about: which directories exist, their child directories and
/// files, and which files end in a given pair of components.
public struct PathIndex: Sendable {
    public private(set) var files: Set<String> = []
    /// Directory → names of its child directories ("" is the root).
    private var childDirectories: [String: Set<String>] = [:]
    /// Directory → the files directly in it, as paths (the strings `files` holds: a name of its
    /// own cost a heap allocation for each name longer than 15 bytes).
    private var directFiles: [String: Set<String>] = [:]
    /// The hash of `PathIndex.tail(path)` → `.java` files with that tail (Java's package-path
    /// lookups are the only ones by tail), and maybe a few of another tail with the same hash:
    /// every lookup compares the paths it finds. Keyed by the hash, a key costs no string of its
    /// own; other files are not held here (for every file of a kernel tree it was 4 MiB).
    private var javaByTail: [Int: PathBucket] = [:]
    /// The same for directories.
    private var directoriesByTail: [Int: PathBucket] = [:]
    private var knownDirectories: Set<String> = []

    public init() {}

    public init(_ paths: some Sequence<String>) {
        for path in paths { insert(path) }
    }

    /// Room for `count` files without growing the set of them.
    public mutating func reserveCapacity(_ count: Int) { files.reserveCapacity(count) }

    public func contains(_ path: String) -> Bool { files.contains(path) }

    public func isDirectory(_ path: String) -> Bool {
        path.isEmpty || knownDirectories.contains(path)
    }

    public mutating func insert(_ path: String) {
        guard files.insert(path).inserted else { return }
        let directory = Self.directory(of: path)
        directFiles[directory, default: []].insert(path)
        if Self.isJava(path) { PathBucket.insert(path, into: &javaByTail) }
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
        let directory = Self.directory(of: path)
        directFiles[directory]?.remove(path)
        if directFiles[directory]?.isEmpty == true { directFiles[directory] = nil }
        if Self.isJava(path) { PathBucket.remove(path, from: &javaByTail) }
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
        (directFiles[directory] ?? []).sorted()
    }

    /// Files anywhere below `directory`, sorted.
    public func files(under directory: String) -> [String] {
        var found: [String] = []
        var pending = [directory]
        while let next = pending.popLast() {
            found += directFiles[next] ?? []
            pending += (childDirectories[next] ?? []).map { Self.join(next, $0) }
        }
        return found.sorted()
    }

    /// `.java` files whose path is `suffix` or ends in `/suffix` (none for any other suffix).
    public func javaFiles(endingIn suffix: String) -> [String] {
        guard Self.isJava(suffix) else { return [] }
        return (javaByTail[PathBucket.key(suffix)]?.paths ?? []).filter { $0 == suffix || $0.hasSuffix("/" + suffix) }
            .sorted()
    }

    static func isJava(_ path: String) -> Bool { path.utf8.reversed().starts(with: ".java".utf8.reversed()) }

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

    public static func directory(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
        return String(path[..<slash])
    }

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
    /// Works on the UTF-8 bytes (a `/` never occurs inside a multi-byte character): every
    /// candidate of every `#include` comes through here, and the `String` searches it used took
    /// a fifth of a kernel tree's graph build.
    public static func normalize(_ path: String) -> String? {
        var contiguous = path
        return contiguous.withUTF8 { bytes in needsNormalizing(bytes) ? normalized(bytes) : path }
    }

    /// The segments of `bytes` but empty and `.` ones, each `..` taking the one before it away;
    /// nil when a `..` has none to take.
    private static func normalized(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var parts: [Range<Int>] = []
        var start = 0
        for end in 0...bytes.count where end == bytes.count || bytes[end] == slash {
            let segment = start..<end
            start = end + 1
            if segment.isEmpty || (segment.count == 1 && bytes[segment.lowerBound] == dot) { continue }
            if segment.count == 2 && bytes[segment.lowerBound] == dot && bytes[segment.lowerBound + 1] == dot {
                guard parts.popLast() != nil else { return nil }
            } else {
                parts.append(segment)
            }
        }
        var joined: [UInt8] = []
        joined.reserveCapacity(bytes.count)
        for (position, segment) in parts.enumerated() {
            if position > 0 { joined.append(slash) }
            joined.append(contentsOf: bytes[segment])
        }
        return String(decoding: joined, as: UTF8.self)
    }

    private static let slash = UInt8(ascii: "/")
    private static let dot = UInt8(ascii: ".")

    /// Whether `normalize` has anything to do: a `./` or `//` anywhere, a leading `/`, a
    /// trailing `/.` or `/..`, or the whole path `.` or `..`.
    private static func needsNormalizing(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return false }
        if first == slash { return true }
        var previous = first
        for byte in bytes.dropFirst() {
            if byte == slash && (previous == dot || previous == slash) { return true }
            previous = byte
        }
        guard last == dot else { return false }
        let count = bytes.count
        if count == 1 || bytes[count - 2] == slash { return true }
        return bytes[count - 2] == dot && (count == 2 || bytes[count - 3] == slash)
    }

    /// Whether `text` holds a `*` (a byte search: `String.contains` walks characters).
    static func hasWildcard(_ text: String) -> Bool { text.utf8.contains(UInt8(ascii: "*")) }
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
