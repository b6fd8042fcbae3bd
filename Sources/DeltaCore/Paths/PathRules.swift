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
        if String(validating: bytes, as: UTF8.self) == nil { return "path is not valid UTF-8" }
        return nil
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

    /// Whether `ancestor` is a proper directory prefix of `path` (`a/b` of `a/b/c`).
    public static func isAncestor(_ ancestor: String, of path: String) -> Bool {
        path.utf8.count > ancestor.utf8.count && path.hasPrefix(ancestor)
            && path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: ancestor.utf8.count)] == UInt8(ascii: "/")
    }

    /// The proper directory prefixes of `path`, shortest first (`a`, `a/b` for `a/b/c`).
    public static func parents(of path: String) -> [String] {
        var result: [String] = []
        var index = path.startIndex
        while let slash = path[index...].firstIndex(of: "/") {
            result.append(String(path[..<slash]))
            index = path.index(after: slash)
        }
        return result
    }
}
