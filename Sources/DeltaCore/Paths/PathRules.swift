/// The rules a workspace-relative path must follow to travel in a bundle or be stored.
///
/// A valid path is non-empty UTF-8, relative, uses `/` separators, has no empty, `.` or `..`
/// segments, no NUL, control characters or backslashes, components of at most 255 bytes and a
/// total of at most 4,096 bytes. The client skips paths that break these rules; the server rejects
/// bundles that contain them.
public enum PathRules {
    public static let maxComponentBytes = 255
    public static let maxPathBytes = 4096

    /// Returns `nil` when `bytes` is a valid relative path, else the reason.
    public static func violation<Bytes: Collection>(in bytes: Bytes) -> String? where Bytes.Element == UInt8 {
        if bytes.isEmpty { return "empty path" }
        if bytes.count > maxPathBytes { return "path longer than \(maxPathBytes) bytes" }
        if bytes.first == UInt8(ascii: "/") { return "absolute path" }
        var componentLength = 0
        var componentIsDots = true
        var dotCount = 0
        func endComponent() -> String? {
            if componentLength == 0 { return "empty path component" }
            if componentIsDots && dotCount <= 2 { return dotCount == 1 ? "'.' path component" : "'..' path component" }
            if componentLength > maxComponentBytes { return "path component longer than \(maxComponentBytes) bytes" }
            return nil
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "/"):
                if let reason = endComponent() { return reason }
                componentLength = 0
                componentIsDots = true
                dotCount = 0
                continue
            case 0: return "NUL character in path"
            case 1..<0x20, 0x7f: return "control character in path"
            case UInt8(ascii: "\\"): return "backslash in path"
            case UInt8(ascii: "."): dotCount += 1
            default: componentIsDots = false
            }
            componentLength += 1
        }
        if let reason = endComponent() { return reason }
        guard let text = String(validating: bytes, as: UTF8.self) else { return "path is not valid UTF-8" }
        return unicodeViolation(in: text.unicodeScalars)
    }

    /// The rule for names that are valid UTF-8 but deceptive or unstable as text, shared by the
    /// server (which refuses them) and the client (which skips and reports them): no component may
    /// start with a combining mark (Swift would fuse it with the preceding `/` into one character,
    /// and so would many tools that show paths), and no name may hold a bidirectional override or
    /// isolate control (U+202A–U+202E, U+2066–U+2069), which make a name display as another.
    public static func unicodeViolation<Scalars: Sequence>(in scalars: Scalars) -> String?
    where Scalars.Element == Unicode.Scalar {
        var atComponentStart = true
        for scalar in scalars {
            let value = scalar.value
            if value < 0x80 {
                atComponentStart = value == UInt32(UInt8(ascii: "/"))
                continue
            }
            if (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value) {
                return "bidirectional control character U+\(String(value, radix: 16, uppercase: true)) in path"
            }
            if atComponentStart && startsGraphemeExtension(scalar) {
                return "path component starts with a combining mark "
                    + "(U+\(String(value, radix: 16, uppercase: true)))"
            }
            atComponentStart = false
        }
        return nil
    }

    /// Whether `scalar` would attach to the character before it (a combining or spacing mark, a
    /// grapheme extender, or a zero-width joiner).
    static func startsGraphemeExtension(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value == 0x200D { return true }
        let properties = scalar.properties
        if properties.isGraphemeExtend { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Validates `path` and throws `INVALID_PATH` naming it.
    public static func validate(_ path: String) throws {
        if let reason = violation(in: Array(path.utf8)) {
            throw DeltaError(
                .invalidPath, "invalid path '\(printable(path))': \(reason)", details: ["path": .string(path)])
        }
    }

    /// A path made safe to print in a message (control characters escaped, length capped).
    public static func printable(_ path: String) -> String {
        var out = ""
        for scalar in path.unicodeScalars.prefix(300) {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: - Byte-wise path arithmetic
    //
    // `String` operations work on `Character`s, and a `/` followed by a combining mark is one
    // `Character`: splitting or prefix-matching paths as text can miss a separator. These work on
    // the UTF-8 bytes, where `/` is always the single byte 0x2F.

    /// Whether `ancestor` is a proper directory prefix of `path` (`a/b` of `a/b/c`), by bytes.
    public static func isAncestor(_ ancestor: String, of path: String) -> Bool {
        let count = ancestor.utf8.count
        guard path.utf8.count > count, path.utf8.starts(with: ancestor.utf8) else { return false }
        return path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: count)] == UInt8(ascii: "/")
    }

    /// The proper directory prefixes of `path`, shortest first (`a`, `a/b` for `a/b/c`).
    public static func parents(of path: String) -> [String] {
        var result: [String] = []
        let utf8 = path.utf8
        var index = utf8.startIndex
        while index < utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                result.append(String(decoding: utf8[utf8.startIndex..<index], as: UTF8.self))
            }
            index = utf8.index(after: index)
        }
        return result
    }

    /// The components of `path` split at every `/` byte (empty components dropped).
    public static func components(of path: String) -> [String] {
        path.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `(parent, name)` of `path` split at its last `/` byte; the parent of a top-level name is "".
    public static func split(_ path: String) -> (parent: String, name: String) {
        let utf8 = path.utf8
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return ("", path) }
        return (
            String(decoding: utf8[utf8.startIndex..<slash], as: UTF8.self),
            String(decoding: utf8[utf8.index(after: slash)...], as: UTF8.self)
        )
    }
}
