/// Git's `wildmatch` glob semantics on raw bytes: `*`, `?`, `[…]` classes, `\` escapes and, in
/// pathname mode, `**` spanning directories.
///
/// Ignore patterns must decide exactly what git decides, so this follows git's matcher case by
/// case rather than translating globs into a regular expression (which is also far slower on
/// Linux). It works on UTF-8 bytes: `?` and classes match one byte, as in git.
enum WildcardMatcher {
    /// Git's tri-state failure lets an outer `*` or `**` stop retrying early without changing
    /// what matches.
    private enum Outcome {
        case match
        case noMatch
        case abortAll
        case abortToDoubleStar
    }

    private static let slash = UInt8(ascii: "/")
    private static let star = UInt8(ascii: "*")
    private static let backslash = UInt8(ascii: "\\")

    /// Whether `text` matches `pattern`. In `pathname` mode `*`, `?` and classes never match `/`
    /// and `**` between slashes matches any number of directories; otherwise `*` crosses `/`.
    static func matches(_ pattern: UnsafeBufferPointer<UInt8>, _ text: UnsafeBufferPointer<UInt8>, pathname: Bool)
        -> Bool
    {
        match(pattern, from: 0, text, from: 0, pathname: pathname) == .match
    }

    /// Whether `byte` starts a glob construct (git's `is_glob_special`).
    static func isSpecial(_ byte: UInt8) -> Bool {
        byte == star || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[") || byte == backslash
    }

    private static func match(
        _ p: UnsafeBufferPointer<UInt8>, from patternStart: Int,
        _ t: UnsafeBufferPointer<UInt8>, from textStart: Int,
        pathname: Bool
    ) -> Outcome {
        // Reading past either end yields 0, like the NUL terminator git relies on; neither a
        // path nor a parsed pattern contains a NUL byte.
        @inline(__always) func pat(_ i: Int) -> UInt8 { i < p.count ? p[i] : 0 }
        @inline(__always) func txt(_ i: Int) -> UInt8 { i < t.count ? t[i] : 0 }
        var pi = patternStart
        var ti = textStart
        while pi < p.count {
            let tch = txt(ti)
            let pch = p[pi]
            if tch == 0 && pch != star { return .abortAll }
            switch pch {
            case backslash:
                pi += 1
                if tch != pat(pi) { return .noMatch }
            case UInt8(ascii: "?"):
                if pathname && tch == slash { return .noMatch }
            case star:
                pi += 1
                var matchSlash = !pathname
                if pat(pi) == star {
                    let before = pi - 2
                    while pat(pi) == star { pi += 1 }
                    let next = pat(pi)
                    let atBoundary =
                        (before < patternStart || p[before] == slash)
                        && (next == 0 || next == slash || (next == backslash && pat(pi + 1) == slash))
                    if !pathname {
                        matchSlash = true
                    } else if atBoundary {
                        // `**/` may match no directory at all: try the rest right here first.
                        if next == slash && match(p, from: pi + 1, t, from: ti, pathname: pathname) == .match {
                            return .match
                        }
                        matchSlash = true
                    } else {
                        matchSlash = false
                    }
                }
                if pi == p.count {
                    // A trailing `*` must not swallow a `/`; a trailing `**` takes everything.
                    if !matchSlash && t[ti...].contains(slash) { return .noMatch }
                    return .match
                }
                if !matchSlash && p[pi] == slash {
                    // `*/` consumes exactly one directory name.
                    guard let found = t[ti...].firstIndex(of: slash) else { return .noMatch }
                    ti = found
                    break
                }
                var current = tch
                while current != 0 {
                    let next = p[pi]
                    if !isSpecial(next) {
                        // Skip ahead to the next occurrence of the literal that follows the star.
                        while ti < t.count, matchSlash || t[ti] != slash, t[ti] != next { ti += 1 }
                        current = txt(ti)
                        if current != next { return .noMatch }
                    }
                    let outcome = match(p, from: pi, t, from: ti, pathname: pathname)
                    if outcome != .noMatch {
                        if !matchSlash || outcome != .abortToDoubleStar { return outcome }
                    } else if !matchSlash && current == slash {
                        return .abortToDoubleStar
                    }
                    ti += 1
                    current = txt(ti)
                }
                return .abortAll
            case UInt8(ascii: "["):
                guard let (matched, end) = matchClass(p, at: pi + 1, byte: tch) else { return .abortAll }
                if !matched || (pathname && tch == slash) { return .noMatch }
                pi = end
            default:
                if tch != pch { return .noMatch }
            }
            pi += 1
            ti += 1
        }
        return ti < t.count ? .noMatch : .match
    }

    /// Matches `byte` against the bracket expression whose body starts at `start` (just after
    /// `[`). Returns whether it matched (negation applied) and the index of the closing `]`, or
    /// `nil` for a malformed expression, which makes the whole pattern fail as in git.
    private static func matchClass(_ p: UnsafeBufferPointer<UInt8>, at start: Int, byte: UInt8) -> (Bool, Int)? {
        @inline(__always) func pat(_ i: Int) -> UInt8 { i < p.count ? p[i] : 0 }
        var pi = start
        var pch = pat(pi)
        let negated = pch == UInt8(ascii: "!") || pch == UInt8(ascii: "^")
        if negated {
            pi += 1
            pch = pat(pi)
        }
        var previous: UInt8 = 0
        var matched = false
        while true {
            if pch == 0 { return nil }
            if pch == backslash {
                pi += 1
                pch = pat(pi)
                if pch == 0 { return nil }
                if byte == pch { matched = true }
            } else if pch == UInt8(ascii: "-") && previous != 0 && pat(pi + 1) != 0 && pat(pi + 1) != UInt8(ascii: "]")
            {
                pi += 1
                pch = pat(pi)
                if pch == backslash {
                    pi += 1
                    pch = pat(pi)
                    if pch == 0 { return nil }
                }
                if byte >= previous && byte <= pch { matched = true }
                pch = 0  // a range cannot be the start of another range
            } else if pch == UInt8(ascii: "[") && pat(pi + 1) == UInt8(ascii: ":") {
                let nameStart = pi + 2
                var close = nameStart
                while pat(close) != 0 && pat(close) != UInt8(ascii: "]") { close += 1 }
                if pat(close) == 0 { return nil }
                if close - nameStart - 1 < 0 || p[close - 1] != UInt8(ascii: ":") {
                    // No `:]`: the `[` is an ordinary member of the set.
                    if byte == pch { matched = true }
                } else {
                    let name = UnsafeBufferPointer(rebasing: p[nameStart..<(close - 1)])
                    guard let inClass = CharacterClass.contains(name, byte) else { return nil }
                    if inClass { matched = true }
                    pi = close
                    pch = 0
                }
            } else if byte == pch {
                matched = true
            }
            previous = pch
            pi += 1
            pch = pat(pi)
            if pch == UInt8(ascii: "]") { break }
        }
        return (matched != negated, pi)
    }
}

/// The POSIX classes git's matcher accepts inside brackets (`[[:digit:]]`), ASCII only, with
/// git's own definition of space (no vertical tab or form feed).
private enum CharacterClass {
    static func contains(_ name: UnsafeBufferPointer<UInt8>, _ c: UInt8) -> Bool? {
        let isUpper = c >= 0x41 && c <= 0x5a
        let isLower = c >= 0x61 && c <= 0x7a
        let isDigit = c >= 0x30 && c <= 0x39
        let isPrint = c >= 0x20 && c <= 0x7e
        switch String(decoding: name, as: UTF8.self) {
        case "alnum": return isUpper || isLower || isDigit
        case "alpha": return isUpper || isLower
        case "blank": return c == 0x20 || c == 0x09
        case "cntrl": return c < 0x20 || c == 0x7f
        case "digit": return isDigit
        case "graph": return isPrint && c != 0x20
        case "lower": return isLower
        case "print": return isPrint
        case "punct": return isPrint && c != 0x20 && !(isUpper || isLower || isDigit)
        case "space": return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d
        case "upper": return isUpper
        case "xdigit": return isDigit || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
        default: return nil
        }
    }
}
