import DeltaCore

/// The bundle format's path rules, applied one name at a time while walking (the same rules and
/// reasons as DeltaCore's `PathRules`, checked incrementally so a scan never re-validates the
/// parent part of a path).
enum PathLimits {
    static let maxComponentBytes = 255
    static let maxPathBytes = 4096

    /// Why a path ending in `name` cannot travel in a bundle, or `nil` if it can.
    @inline(__always)
    static func problem(name: UnsafeBufferPointer<UInt8>, pathLength: Int) -> String? {
        var isASCII = true
        for byte in name {
            if byte < 0x20 || byte == 0x7f { return "control character in path" }
            if byte == UInt8(ascii: "\\") { return "backslash in path" }
            if byte >= 0x80 { isASCII = false }
        }
        if name.count > maxComponentBytes { return "path component longer than \(maxComponentBytes) bytes" }
        if pathLength > maxPathBytes { return "path longer than \(maxPathBytes) bytes" }
        if !isASCII {
            guard let text = String(validating: name, as: UTF8.self) else { return "path is not valid UTF-8" }
            // The same rule the server enforces: no leading combining mark, no bidi controls.
            return PathRules.unicodeViolation(in: text.unicodeScalars)
        }
        return nil
    }
}
