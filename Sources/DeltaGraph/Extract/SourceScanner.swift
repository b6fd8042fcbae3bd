/// The cursor and token list every lexer works with: reading past the end yields 0, every
/// skip routine stops at the end, so arbitrary bytes can never read out of bounds or loop.
struct SourceScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let count: Int
    var pos = 0
    var line = 1
    var tokens: [SourceToken] = []
    /// Flags for the next token, collected while skipping whitespace and comments.
    var pending: TokenFlags = [.newline, .lineStart]

    /// `keeping`: whether tokens will be emitted (a C header too large for symbols is only
    /// hashed, and reserves nothing).
    init(_ bytes: UnsafeBufferPointer<UInt8>, keeping: Bool = true) {
        self.bytes = bytes
        count = bytes.count
        // About one token per six bytes of source. Reserved whole: growing by doubling held the
        // old and the new array at once. Not reserved for a file whose tokens are not kept: a
        // 24 MB generated register header reserved 64 MB it never wrote, most of the heap a
        // kernel tree's graph build had allocated at its peak.
        if keeping { tokens.reserveCapacity(bytes.count / 6) }
        if count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { pos = 3 }
    }

    /// The byte at `index`, or 0 past the end.
    @inline(__always) func byte(at index: Int) -> UInt8 { index < count ? bytes[index] : 0 }

    @inline(__always) func current() -> UInt8 { pos < count ? bytes[pos] : 0 }

    @inline(__always) func next(_ offset: Int = 1) -> UInt8 { byte(at: pos + offset) }

    mutating func emit(_ kind: TokenKind, from start: Int, line startLine: Int) {
        tokens.append(
            SourceToken(
                start: start, end: pos, line: Int32(truncatingIfNeeded: startLine), kind: kind, flags: pending))
        pending = []
    }

    /// Skips a `#!` first line (not Rust's `#![`).
    mutating func skipShebang() {
        guard current() == UInt8(ascii: "#"), next() == UInt8(ascii: "!"), next(2) != UInt8(ascii: "[") else { return }
        skipLineComment()
    }

    /// Consumes a newline byte at `pos`.
    @inline(__always) mutating func newline() {
        pos += 1
        line += 1
        pending.insert(.newline)
    }

    /// From the comment start to (not including) the newline; with `continuation`, a backslash
    /// before the newline continues the comment (C).
    mutating func skipLineComment(continuation: Bool = false) {
        while pos < count {
            let byte = bytes[pos]
            if byte == 0x0A { break }
            if continuation, byte == UInt8(ascii: "\\") {
                if next() == 0x0A {
                    pos += 2
                    line += 1
                    continue
                }
                if next() == 0x0D, next(2) == 0x0A {
                    pos += 3
                    line += 1
                    continue
                }
            }
            pos += 1
        }
    }

    /// From `/*` past the matching `*/` (or the end); `nested` for Rust and Swift.
    /// Skips the C-family trivia at `pos` — a whitespace byte, a newline, a `//` or `/* */`
    /// comment — and says whether there was any (the lexers of Go, Java, Rust and Swift share it).
    mutating func skipTrivia(nestedComments: Bool) -> Bool {
        switch bytes[pos] {
        case 0x20, 0x09, 0x0D, 0x0B, 0x0C: pos += 1
        case 0x0A: newline()
        case UInt8(ascii: "/") where next() == UInt8(ascii: "/"): skipLineComment()
        case UInt8(ascii: "/") where next() == UInt8(ascii: "*"): skipBlockComment(nested: nestedComments)
        default: return false
        }
        return true
    }

    mutating func skipBlockComment(nested: Bool) {
        pos += 2
        var depth = 1
        while pos < count {
            let byte = bytes[pos]
            if byte == UInt8(ascii: "*"), next() == UInt8(ascii: "/") {
                pos += 2
                depth -= 1
                if depth == 0 { break }
            } else if nested, byte == UInt8(ascii: "/"), next() == UInt8(ascii: "*") {
                pos += 2
                depth += 1
            } else {
                if byte == 0x0A {
                    line += 1
                    pending.insert(.newline)
                }
                pos += 1
            }
        }
    }

    /// From an opening quote past the closing one; a backslash escapes the next byte (with
    /// `escapes`). Without
    /// `multiline` an unescaped newline ends the literal (unterminated) and is not consumed.
    mutating func skipQuoted(_ quote: UInt8, multiline: Bool, escapes: Bool = true) {
        pos += 1
        while pos < count {
            let byte = bytes[pos]
            if byte == quote {
                pos += 1
                return
            }
            if escapes, byte == UInt8(ascii: "\\") {
                let escaped = next()
                if escaped == 0x0A {
                    line += 1
                } else if escaped == 0x0D, next(2) == 0x0A {
                    pos += 1
                    line += 1
                }
                pos = min(pos + 2, count)
                continue
            }
            if byte == 0x0A {
                if !multiline { return }
                line += 1
            }
            pos += 1
        }
    }

    /// From an opening triple quote past the closing triple (Python, Swift, Java text blocks).
    mutating func skipTripleQuoted(_ quote: UInt8, escapes: Bool = true) {
        pos += 3
        while pos < count {
            let byte = bytes[pos]
            if byte == quote, next() == quote, next(2) == quote {
                pos += 3
                return
            }
            if escapes, byte == UInt8(ascii: "\\") {
                if next() == 0x0A { line += 1 }
                pos = min(pos + 2, count)
                continue
            }
            if byte == 0x0A { line += 1 }
            pos += 1
        }
    }

    /// Advances over identifier bytes (and `$` when `dollar`).
    @inline(__always) mutating func skipIdentifier(dollar: Bool = false) {
        while pos < count {
            let byte = bytes[pos]
            if ByteClass.isIdentifierContinue(byte) || (dollar && byte == UInt8(ascii: "$")) {
                pos += 1
            } else {
                break
            }
        }
    }

    /// A number: digits, letters, `_`, a `.` followed by a digit, a sign after an exponent; a
    /// `'` between digits with `separators` (C++14).
    mutating func skipNumber(separators: Bool = false) {
        pos += 1
        while pos < count {
            let byte = bytes[pos]
            if ByteClass.isIdentifierContinue(byte) {
                pos += 1
            } else if byte == UInt8(ascii: "."), ByteClass.isDigit(next()) {
                pos += 1
            } else if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") {
                let previous = bytes[pos - 1] | 0x20
                guard previous == UInt8(ascii: "e") || previous == UInt8(ascii: "p") else { break }
                pos += 1
            } else if separators, byte == UInt8(ascii: "'"), ByteClass.isIdentifierContinue(next()) {
                pos += 1
            } else {
                break
            }
        }
    }

    /// The number of bytes of the UTF-8 sequence starting with `lead` (1 for invalid bytes).
    @inline(__always) static func sequenceLength(_ lead: UInt8) -> Int {
        if lead < 0xC0 { return 1 }
        if lead < 0xE0 { return 2 }
        if lead < 0xF0 { return 3 }
        return 4
    }
}
