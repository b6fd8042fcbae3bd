/// Rust lexer: nested block comments, line and doc comments, strings with escapes (which span
/// lines), raw strings `r"…"`/`r#"…"#` with any number of `#`, byte and C strings (`b"…"`,
/// `br#"…"#`, `c"…"`), raw identifiers `r#name`, character literals versus lifetimes (a `'`
/// followed by one character and a closing `'` is a character; `'name` otherwise is a
/// lifetime), and `::` as one token.
struct RustLexer {
    var scanner: SourceScanner

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        scanner = SourceScanner(bytes)
    }

    mutating func run() {
        let bytes = scanner.bytes
        let count = scanner.count
        scanner.skipShebang()
        while scanner.pos < count {
            let byte = bytes[scanner.pos]
            let start = scanner.pos
            let line = scanner.line
            if scanner.skipTrivia(nestedComments: true) { continue }
            switch byte {
            case UInt8(ascii: "\""):
                scanner.skipQuoted(byte, multiline: true)
                scanner.emit(.string, from: start, line: line)
            case UInt8(ascii: "'"):
                quote()
            case UInt8(ascii: ":") where scanner.next() == UInt8(ascii: ":"):
                scanner.pos += 2
                scanner.emit(.punctuation, from: start, line: line)
            default:
                if ByteClass.isDigit(byte) {
                    number()
                } else if ByteClass.isIdentifierStart(byte) {
                    identifier()
                } else {
                    scanner.pos += 1
                    scanner.emit(.punctuation, from: start, line: line)
                }
            }
        }
    }

    /// Digits, letters and `_`; a `.` only before a digit (`1..2` is a range, `1.max(2)` a call).
    private mutating func number() {
        let start = scanner.pos
        scanner.pos += 1
        while scanner.pos < scanner.count {
            let byte = scanner.bytes[scanner.pos]
            if ByteClass.isIdentifierContinue(byte) {
                scanner.pos += 1
            } else if byte == UInt8(ascii: "."), ByteClass.isDigit(scanner.next()) {
                scanner.pos += 1
            } else if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-"),
                scanner.bytes[scanner.pos - 1] | 0x20 == UInt8(ascii: "e"), !isHex(start)
            {
                scanner.pos += 1
            } else {
                break
            }
        }
        scanner.emit(.number, from: start, line: scanner.line)
    }

    private func isHex(_ start: Int) -> Bool {
        scanner.byte(at: start) == UInt8(ascii: "0") && scanner.byte(at: start + 1) | 0x20 == UInt8(ascii: "x")
    }

    /// A character literal or a lifetime.
    private mutating func quote() {
        let start = scanner.pos
        let line = scanner.line
        let first = scanner.next()
        if first == UInt8(ascii: "\\") {
            scanner.skipQuoted(UInt8(ascii: "'"), multiline: false)
            scanner.emit(.character, from: start, line: line)
            return
        }
        let length = SourceScanner.sequenceLength(first)
        if first != 0, first != 0x0A, scanner.next(1 + length) == UInt8(ascii: "'") {
            scanner.pos = min(scanner.pos + 2 + length, scanner.count)
            scanner.emit(.character, from: start, line: line)
            return
        }
        scanner.pos += 1
        if ByteClass.isIdentifierStart(scanner.current()) { scanner.skipIdentifier() }
        scanner.emit(.character, from: start, line: line)
    }

    /// An identifier, a raw identifier, or the prefix of a (raw, byte, C) string or byte char.
    private mutating func identifier() {
        let start = scanner.pos
        let line = scanner.line
        scanner.skipIdentifier()
        let length = scanner.pos - start
        let next = scanner.current()
        if length <= 2, next == UInt8(ascii: "\"") || next == UInt8(ascii: "#") || next == UInt8(ascii: "'") {
            let first = scanner.bytes[start]
            let last = scanner.bytes[scanner.pos - 1]
            let raw =
                last == UInt8(ascii: "r") && (length == 1 || first == UInt8(ascii: "b") || first == UInt8(ascii: "c"))
            let plain = length == 1 && (first == UInt8(ascii: "b") || first == UInt8(ascii: "c"))
            if raw, next == UInt8(ascii: "#"), length == 1, ByteClass.isIdentifierStart(scanner.next()) {
                // `r#name`
                scanner.pos += 1
                scanner.skipIdentifier()
                scanner.emit(.identifier, from: start, line: line)
                return
            }
            if raw, next != UInt8(ascii: "'"), rawString() {
                scanner.emit(.string, from: start, line: line)
                return
            }
            if plain, next == UInt8(ascii: "\"") || next == UInt8(ascii: "'") {
                scanner.skipQuoted(next, multiline: next == UInt8(ascii: "\""))
                scanner.emit(next == UInt8(ascii: "'") ? .character : .string, from: start, line: line)
                return
            }
        }
        scanner.emit(.identifier, from: start, line: line)
    }

    /// At the `#`s or `"` after `r`; false (nothing consumed) when no `"` follows the `#`s.
    private mutating func rawString() -> Bool {
        var hashes = 0
        while scanner.byte(at: scanner.pos + hashes) == UInt8(ascii: "#") { hashes += 1 }
        guard scanner.byte(at: scanner.pos + hashes) == UInt8(ascii: "\"") else { return false }
        scanner.pos += hashes + 1
        while scanner.pos < scanner.count {
            let byte = scanner.bytes[scanner.pos]
            scanner.pos += 1
            if byte == 0x0A {
                scanner.line += 1
            } else if byte == UInt8(ascii: "\""), closes(hashes) {
                scanner.pos += hashes
                return true
            }
        }
        return true
    }

    private func closes(_ hashes: Int) -> Bool {
        for offset in 0..<hashes where scanner.byte(at: scanner.pos + offset) != UInt8(ascii: "#") { return false }
        return true
    }
}
