/// The patterns of the rule files of one directory (or of `.git/info/exclude`, or the default
/// excludes), in file order, with the length of the directory prefix they are relative to.
///
/// Within one list the last matching pattern decides, as in git.
struct IgnorePatternList: Sendable {
    private(set) var patterns: [IgnorePattern]
    /// The bytes of all patterns, back to back; patterns refer to it by offset.
    private var storage: [UInt8]
    /// Byte length of `dir/` for the directory holding the rule files; 0 at the root.
    let baseLength: Int

    static func empty(baseLength: Int) -> IgnorePatternList {
        IgnorePatternList(baseLength: baseLength)
    }

    private init(baseLength: Int) {
        self.patterns = []
        self.storage = []
        self.baseLength = baseLength
    }

    /// Parses the contents of a rule file.
    init(contents: [UInt8], baseLength: Int) {
        self.init(baseLength: baseLength)
        append(contents: contents)
    }

    var isEmpty: Bool { patterns.isEmpty }

    /// Appends the patterns of another file for the same directory; they come later, so they
    /// win over the ones already present.
    mutating func append(contents: [UInt8]) {
        var start = 0
        // A UTF-8 byte order mark at the start of the file is not part of the first pattern.
        if contents.count >= 3 && contents[0] == 0xEF && contents[1] == 0xBB && contents[2] == 0xBF {
            start = 3
        }
        while start < contents.count {
            let end = contents[start...].firstIndex(of: UInt8(ascii: "\n")) ?? contents.count
            if let pattern = Self.parse(line: contents[start..<end], storage: &storage) { patterns.append(pattern) }
            start = end + 1
        }
    }

    /// Applies git's line rules: `#` starts a comment only in the first column, one `\r` before
    /// the newline is dropped, and trailing spaces are dropped unless escaped with `\`.
    static func parse(line raw: ArraySlice<UInt8>, storage: inout [UInt8]) -> IgnorePattern? {
        var line = raw
        if line.first == UInt8(ascii: "#") { return nil }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        // Git sees each line as a C string: anything after a NUL byte is invisible to it.
        if let nul = line.firstIndex(of: 0) { line = line[..<nul] }
        return IgnorePattern(line: trimmingTrailingSpaces(line), storage: &storage)
    }

    /// Drops the run of unescaped spaces at the end of a line (`foo\ ` keeps one space).
    static func trimmingTrailingSpaces(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lastSpace: Int?
        var i = line.startIndex
        while i < line.endIndex {
            switch line[i] {
            case UInt8(ascii: " "):
                if lastSpace == nil { lastSpace = i }
            case UInt8(ascii: "\\"):
                i += 1
                // A backslash at the very end escapes nothing; git leaves the line as it is.
                if i == line.endIndex { return line }
                lastSpace = nil
            default:
                lastSpace = nil
            }
            i += 1
        }
        if let lastSpace { return line[..<lastSpace] }
        return line
    }

    /// The decision of the last pattern that matches: `true` ignored, `false` re-included by a
    /// negation, `nil` when no pattern of this list matches.
    @inline(__always)
    func decision(for path: UnsafeBufferPointer<UInt8>, nameStart: Int, isDirectory: Bool) -> Bool? {
        storage.withUnsafeBufferPointer { storage in
            patterns.withUnsafeBufferPointer { patterns in
                var index = patterns.count
                while index > 0 {
                    index -= 1
                    if patterns[index].matches(
                        path, nameStart: nameStart, baseLength: baseLength, isDirectory: isDirectory, storage: storage
                    ) {
                        return !patterns[index].isNegated
                    }
                }
                return nil
            }
        }
    }
}
