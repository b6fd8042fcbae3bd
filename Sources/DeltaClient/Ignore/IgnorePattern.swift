#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One precompiled line of a `.gitignore`-style file.
///
/// Parsing follows git's `parse_path_pattern`: a leading `!` negates, one trailing `/` restricts
/// the pattern to directories, a pattern without any other `/` matches the basename at any
/// depth, and one with a `/` is matched against the path relative to the directory that holds
/// the file. Literal patterns and `*literal` patterns take byte-compare fast paths, as in git.
///
/// The bytes live in the owning list's storage and this value holds only offsets and flags, so
/// checking thousands of entries against it costs no reference counting.
struct IgnorePattern: Sendable {
    /// Where the pattern bytes are in the list's storage: without `!`, without the trailing `/`
    /// and, for anchored patterns, without the leading `/`.
    let offset: Int
    let length: Int
    /// Length of the leading run without glob characters, compared byte for byte before the
    /// wildcard matcher runs (git's `nowildcardlen`).
    let literalPrefix: Int
    let isNegated: Bool
    let directoryOnly: Bool
    /// No `/` except a trailing one: matched against the last path component only.
    let matchesBasename: Bool
    /// `*` followed by a literal: a suffix compare on the basename.
    let isSuffix: Bool

    /// Parses one line that has already had its line ending and trailing spaces removed, and
    /// appends its bytes to `storage`. Returns `nil` for lines that can never match (empty, `!`
    /// or `/` alone).
    init?(line: ArraySlice<UInt8>, storage: inout [UInt8]) {
        var body = line
        isNegated = body.first == UInt8(ascii: "!")
        if isNegated { body = body.dropFirst() }
        directoryOnly = body.last == UInt8(ascii: "/")
        if directoryOnly { body = body.dropLast() }
        if body.isEmpty { return nil }
        matchesBasename = !body.contains(UInt8(ascii: "/"))
        var prefix = body.firstIndex(where: WildcardMatcher.isSpecial).map { $0 - body.startIndex } ?? body.count
        isSuffix = body.first == UInt8(ascii: "*") && !body.dropFirst().contains(where: WildcardMatcher.isSpecial)
        if !matchesBasename && body.first == UInt8(ascii: "/") {
            // Anchored to the rule file's directory: the slash only marks that, it is not matched.
            body = body.dropFirst()
            prefix -= 1
            if body.isEmpty { return nil }
        }
        offset = storage.count
        length = body.count
        literalPrefix = prefix
        storage.append(contentsOf: body)
    }

    /// Whether the pattern selects `path` (a workspace-relative path whose last component
    /// starts at `nameStart`), for a rule file whose directory prefix (`dir/`) is `baseLength`
    /// bytes long. The caller guarantees the path lies below that directory.
    @inline(__always)
    func matches(
        _ path: UnsafeBufferPointer<UInt8>, nameStart: Int, baseLength: Int, isDirectory: Bool,
        storage: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        if directoryOnly && !isDirectory { return false }
        let pattern = UnsafeBufferPointer(rebasing: storage[offset..<(offset + length)])
        if matchesBasename {
            return matchesName(pattern, UnsafeBufferPointer(rebasing: path[nameStart...]))
        }
        return matchesRelativePath(pattern, UnsafeBufferPointer(rebasing: path[baseLength...]))
    }

    @inline(__always)
    private func matchesName(_ pattern: UnsafeBufferPointer<UInt8>, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        if literalPrefix == length {
            return name.count == length && Self.bytesEqual(pattern, 0, name, 0, count: length)
        }
        if isSuffix {
            let suffixLength = length - 1
            return suffixLength <= name.count
                && Self.bytesEqual(pattern, 1, name, name.count - suffixLength, count: suffixLength)
        }
        // A basename holds no `/`, so git matches it without pathname semantics.
        return WildcardMatcher.matches(pattern, name, pathname: false)
    }

    private func matchesRelativePath(_ pattern: UnsafeBufferPointer<UInt8>, _ name: UnsafeBufferPointer<UInt8>) -> Bool
    {
        let prefix = literalPrefix
        if prefix == 0 { return WildcardMatcher.matches(pattern, name, pathname: true) }
        if prefix > name.count || !Self.bytesEqual(pattern, 0, name, 0, count: prefix) { return false }
        if prefix == length && prefix == name.count { return true }
        // Like git, the wildcard part is matched as a pattern of its own: a `**` right after the
        // literal prefix counts as leading (`foo**/bar` behaves as `foo` + `**/bar`).
        return WildcardMatcher.matches(
            UnsafeBufferPointer(rebasing: pattern[prefix...]),
            UnsafeBufferPointer(rebasing: name[prefix...]),
            pathname: true
        )
    }

    @inline(__always)
    private static func bytesEqual(
        _ a: UnsafeBufferPointer<UInt8>, _ aStart: Int, _ b: UnsafeBufferPointer<UInt8>, _ bStart: Int, count: Int
    ) -> Bool {
        guard count > 0, let aBase = a.baseAddress, let bBase = b.baseAddress else { return true }
        return memcmp(aBase + aStart, bBase + bStart, count) == 0
    }
}
