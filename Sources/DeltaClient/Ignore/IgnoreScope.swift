/// The pattern lists in force for the entries of one directory: the rule files of that directory
/// and of each ancestor, then `.git/info/exclude`, then the default excludes.
///
/// The scanner keeps one scope per directory on its stack and extends it by one list when it
/// descends, so judging an entry takes no lock and no dictionary lookup.
struct IgnoreScope: Sendable {
    /// Names excluded wherever they appear, whatever any pattern says (`.git`, the state dir).
    let alwaysExcludedNames: [[UInt8]]
    /// Per-directory lists, shallowest first; only directories that have rule files appear.
    private(set) var directoryLists: [IgnorePatternList]
    /// `.git/info/exclude`, then the default excludes: below every rule file in precedence.
    let fallbackLists: [IgnorePatternList]

    init(alwaysExcludedNames: [[UInt8]], fallbackLists: [IgnorePatternList]) {
        self.alwaysExcludedNames = alwaysExcludedNames
        self.directoryLists = []
        self.fallbackLists = fallbackLists.filter { !$0.isEmpty }
    }

    /// The scope for a subdirectory whose own rule files produced `list`.
    func appending(_ list: IgnorePatternList) -> IgnoreScope {
        if list.isEmpty { return self }
        var scope = self
        scope.directoryLists.append(list)
        return scope
    }

    /// Whether the entry at `path` (its last component starting at `nameStart`) is excluded,
    /// assuming its parent directory is not. As in git, the deepest rule file with any matching
    /// pattern decides, and within it the last matching pattern.
    func isExcluded(_ path: UnsafeBufferPointer<UInt8>, nameStart: Int, isDirectory: Bool) -> Bool {
        let name = UnsafeBufferPointer(rebasing: path[nameStart...])
        for excluded in alwaysExcludedNames where excluded.count == name.count {
            if excluded.elementsEqual(name) { return true }
        }
        let decision = directoryLists.withUnsafeBufferPointer { lists -> Bool? in
            var index = lists.count
            while index > 0 {
                index -= 1
                if let decision = lists[index].decision(for: path, nameStart: nameStart, isDirectory: isDirectory) {
                    return decision
                }
            }
            return nil
        }
        if let decision { return decision }
        return fallbackLists.withUnsafeBufferPointer { lists in
            for index in lists.indices {
                if let decision = lists[index].decision(for: path, nameStart: nameStart, isDirectory: isDirectory) {
                    return decision
                }
            }
            return false
        }
    }

    /// Convenience for callers holding bytes in an array.
    func isExcluded(_ path: [UInt8], nameStart: Int, isDirectory: Bool) -> Bool {
        path.withUnsafeBufferPointer { isExcluded($0, nameStart: nameStart, isDirectory: isDirectory) }
    }
}
