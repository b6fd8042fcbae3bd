#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// Decides which workspace paths are ignored, with git's `.gitignore` semantics.
///
/// Sources, highest precedence first:
/// 1. `.git` and the client's state directory, excluded by name at any depth, always;
/// 2. per-directory rule files, deepest directory first; in one directory `.deltasyncignore`
///    is read after `.gitignore`, so its patterns win;
/// 3. `.git/info/exclude` at the root;
/// 4. the default excludes (``defaultExcludes``), which a user's `!pattern` can re-include.
///
/// The first source with a matching pattern decides; within a file the last matching pattern
/// decides. A path below an excluded directory stays excluded whatever later patterns say,
/// because git never looks inside an excluded directory.
///
/// Rule files are read lazily and cached per directory; call ``invalidate(directory:)`` when
/// one changes. A scan by ``TreeScanner`` re-reads the rule files of every directory it visits.
/// All methods are safe to call from any thread.
public final class IgnoreRules: Sendable {
    /// Excluded unless a rule file re-includes them. `.git/` is listed for completeness: it is
    /// excluded unconditionally anyway.
    public static let defaultExcludes: [String] = [
        ".git/", ".hg/", ".svn/", "node_modules/", ".build/", ".venv/", "__pycache__/", ".mypy_cache/",
        ".pytest_cache/", ".tox/", ".gradle/", ".next/", ".DS_Store", "*.pyc",
    ]

    /// Names of the per-directory rule files, in the order they are applied.
    public static let ruleFileNames = [".gitignore", ".deltasyncignore"]

    /// The workspace root the relative paths are resolved against.
    public let root: String
    /// Name of the client state directory, excluded at any depth.
    public let stateDirectoryName: String
    public let usesDefaultExcludes: Bool

    private let defaults: IgnorePatternList
    private let alwaysExcludedNames: [[UInt8]]
    private let cache = Mutex(Cache())

    private struct Cache {
        var directories: [String: IgnorePatternList] = [:]
        var infoExclude: IgnorePatternList?
        /// Bumped by every invalidation, so a load that raced with one is not cached.
        var generation: UInt64 = 0
    }

    public init(root: String, stateDirectoryName: String = ".deltasync", useDefaultExcludes: Bool = true) {
        self.root = root
        self.stateDirectoryName = stateDirectoryName
        self.usesDefaultExcludes = useDefaultExcludes
        let defaultText = useDefaultExcludes ? Self.defaultExcludes.joined(separator: "\n") : ""
        self.defaults = IgnorePatternList(contents: Array(defaultText.utf8), baseLength: 0)
        self.alwaysExcludedNames = [Array(".git".utf8), Array(stateDirectoryName.utf8)].filter { !$0.isEmpty }
    }

    /// Whether a rule file with this name affects the directory it is in.
    public static func isRuleFile(_ name: String) -> Bool {
        ruleFileNames.contains(name)
    }

    /// Whether `relativePath` is ignored, itself or because a parent directory is (for paths
    /// that arrive one at a time, like file-watch events). The root itself is never ignored.
    public func isIgnored(_ relativePath: String, isDirectory: Bool) -> Bool {
        judge(relativePath, isDirectory: isDirectory, checkingAncestors: true)
    }

    /// Whether the entry `relativePath` is ignored, assuming its parent directory is not (the
    /// scanner's case: it never enters an ignored directory).
    public func isIgnoredEntry(_ relativePath: String, isDirectory: Bool) -> Bool {
        judge(relativePath, isDirectory: isDirectory, checkingAncestors: false)
    }

    /// Drops the cached rules of `directory` (workspace-relative, `""` for the root) so they are
    /// read again on next use. `.git/info` (or `.git`) drops `.git/info/exclude`.
    public func invalidate(directory: String) {
        let key = String(decoding: Self.normalized(directory), as: UTF8.self)
        cache.withLock { cache in
            cache.generation &+= 1
            cache.directories[key] = nil
            if key == ".git/info" || key == ".git" { cache.infoExclude = nil }
        }
    }

    /// Drops every cached rule file.
    public func invalidateAll() {
        cache.withLock { cache in
            cache.generation &+= 1
            cache.directories.removeAll()
            cache.infoExclude = nil
        }
    }

    // MARK: - Scanner support

    /// The scope for entries of the root directory, before the root's own rule files.
    func baseScope() -> IgnoreScope {
        IgnoreScope(alwaysExcludedNames: alwaysExcludedNames, fallbackLists: [infoExclude(), defaults])
    }

    /// The rules of `directory`, from the cache or read from disk.
    func rules(forDirectory directory: String) -> IgnorePatternList {
        let (cached, generation) = cache.withLock { ($0.directories[directory], $0.generation) }
        if let cached { return cached }
        let prefix = directory.isEmpty ? root : root + "/" + directory
        let list = Self.load(baseLength: Self.baseLength(of: directory)) { name in
            RuleFileReader.contents(of: prefix + "/" + name, relativeTo: AT_FDCWD, followSymlink: false)
        }
        store(list, for: directory, ifGeneration: generation)
        return list
    }

    /// Re-reads the rule files of a directory the scanner holds open. The scanner has listed the
    /// directory already, so files it did not see are not even looked for.
    func reloadRules(forDirectory directory: String, fd: Int32, present: (gitignore: Bool, deltasyncignore: Bool))
        -> IgnorePatternList
    {
        let generation = cache.withLock { $0.generation }
        let list = Self.load(baseLength: Self.baseLength(of: directory)) { name in
            let isPresent = name == Self.ruleFileNames[0] ? present.gitignore : present.deltasyncignore
            return isPresent ? RuleFileReader.contents(of: name, relativeTo: fd, followSymlink: false) : nil
        }
        store(list, for: directory, ifGeneration: generation)
        return list
    }

    // MARK: - Private

    private func judge(_ relativePath: String, isDirectory: Bool, checkingAncestors: Bool) -> Bool {
        let path = Self.normalized(relativePath)
        if path.isEmpty { return false }
        var scope = baseScope().appending(rules(forDirectory: ""))
        var nameStart = 0
        while let slash = path[nameStart...].firstIndex(of: UInt8(ascii: "/")) {
            let directory = Array(path[..<slash])
            if checkingAncestors && scope.isExcluded(directory, nameStart: nameStart, isDirectory: true) {
                return true
            }
            scope = scope.appending(rules(forDirectory: String(decoding: directory, as: UTF8.self)))
            nameStart = slash + 1
        }
        return scope.isExcluded(path, nameStart: nameStart, isDirectory: isDirectory)
    }

    private func infoExclude() -> IgnorePatternList {
        let (cached, generation) = cache.withLock { ($0.infoExclude, $0.generation) }
        if let cached { return cached }
        let bytes = RuleFileReader.contents(of: root + "/.git/info/exclude", relativeTo: AT_FDCWD, followSymlink: true)
        let list = IgnorePatternList(contents: bytes ?? [], baseLength: 0)
        cache.withLock { cache in
            if cache.generation == generation { cache.infoExclude = list }
        }
        return list
    }

    private func store(_ list: IgnorePatternList, for directory: String, ifGeneration generation: UInt64) {
        cache.withLock { cache in
            if cache.generation == generation { cache.directories[directory] = list }
        }
    }

    private static func load(baseLength: Int, reading read: (String) -> [UInt8]?) -> IgnorePatternList {
        var list = IgnorePatternList.empty(baseLength: baseLength)
        for name in ruleFileNames {
            if let bytes = read(name) { list.append(contents: bytes) }
        }
        return list
    }

    private static func baseLength(of directory: String) -> Int {
        directory.isEmpty ? 0 : directory.utf8.count + 1
    }

    /// Tolerates a leading `./` and trailing slashes from callers.
    static func normalized(_ path: String) -> [UInt8] {
        var bytes = Array(path.utf8)[...]
        while bytes.starts(with: [UInt8(ascii: "."), UInt8(ascii: "/")]) { bytes = bytes.dropFirst(2) }
        if bytes.elementsEqual([UInt8(ascii: ".")]) { return [] }
        while bytes.last == UInt8(ascii: "/") { bytes = bytes.dropLast() }
        return Array(bytes)
    }
}
