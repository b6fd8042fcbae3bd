/// The C/C++ lexer and the part of the preprocessor the graph needs: `#include`/`#include_next`/
/// `#import` (every branch counts), `#define` names, and `#if 0` regions, which are lexed (so a
/// comment or string inside cannot end them) but produce nothing.
///
/// Tokens outside directives go to `scanner.tokens` for `CDeclarationParser`, with
/// `conditionalStart`/`conditionalBranch`/`conditionalEnd` markers around live conditionals
/// so the parser can re-read alternative branches from the same state. With `hashing`, every
/// live token (directives included) is hashed for a header's fingerprint.
struct CLexer {
    var scanner: SourceScanner
    var imports: [ImportSpec] = []
    var macros: [Symbol] = []
    var hasher = Fingerprinter()
    let hashing: Bool
    let collecting: Bool

    enum Directive {
        case none, name, include, define, defineParameters, condition, other
    }

    enum Condition {
        case none, opening, alternative, closing
    }

    /// One `#if` … `#endif`.
    struct Frame {
        /// Inside a dead region: every branch is dead.
        var enclosingDead: Bool
        var branchDead: Bool
        /// A `conditionalStart` marker was emitted.
        var marked: Bool
    }

    var directive = Directive.none
    var condition = Condition.none
    /// Recognises `0` and `(0)` as a condition: 0 start, 1 `0` seen last, 2 `(`, 3 `( 0`, -1 other.
    var conditionState = 0
    var frames: [Frame] = []
    var dead = false
    /// A token was seen since the last (unescaped) newline: a `#` is then not a directive.
    var tokenOnLine = false
    var macroName = ""
    var macroLine = 0
    var macroParameters: [String] = []
    var macroParameter = ""

    /// `collecting`: keep tokens and macros (files small enough for symbols).
    init(_ bytes: UnsafeBufferPointer<UInt8>, hashing: Bool, collecting: Bool) {
        scanner = SourceScanner(bytes, keeping: collecting)
        self.hashing = hashing
        self.collecting = collecting
    }

    mutating func run() {
        let bytes = scanner.bytes
        let count = scanner.count
        while scanner.pos < count {
            let byte = bytes[scanner.pos]
            switch byte {
            case 0x20, 0x09, 0x0D, 0x0B, 0x0C:
                scanner.pos += 1
            case 0x0A:
                scanner.newline()
                tokenOnLine = false
                if directive != .none { endDirective() }
            case UInt8(ascii: "\\"):
                if scanner.next() == 0x0A {
                    scanner.pos += 2
                    scanner.line += 1
                } else if scanner.next() == 0x0D, scanner.next(2) == 0x0A {
                    scanner.pos += 3
                    scanner.line += 1
                } else {
                    punctuation(length: 1)
                }
            case UInt8(ascii: "/"):
                if scanner.next() == UInt8(ascii: "/") {
                    scanner.skipLineComment(continuation: true)
                } else if scanner.next() == UInt8(ascii: "*") {
                    scanner.skipBlockComment(nested: false)
                } else {
                    punctuation(length: 1)
                }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let start = scanner.pos
                let line = scanner.line
                scanner.skipQuoted(byte, multiline: false)
                token(byte == UInt8(ascii: "'") ? .character : .string, from: start, line: line)
            case UInt8(ascii: "#"):
                if tokenOnLine {
                    punctuation(length: 1)
                } else {
                    startDirective()
                }
            case UInt8(ascii: "<") where directive == .include:
                headerName()
            case UInt8(ascii: ":"):
                punctuation(length: scanner.next() == UInt8(ascii: ":") ? 2 : 1)
            case UInt8(ascii: "."):
                if ByteClass.isDigit(scanner.next()) { number() } else { punctuation(length: 1) }
            default:
                if ByteClass.isDigit(byte) {
                    number()
                } else if ByteClass.isIdentifierStart(byte) {
                    identifier()
                } else {
                    punctuation(length: 1)
                }
            }
        }
        if directive != .none { endDirective() }
    }

    // MARK: - Tokens

    private mutating func punctuation(length: Int) {
        let start = scanner.pos
        scanner.pos += length
        token(.punctuation, from: start, line: scanner.line)
    }

    private mutating func number() {
        let start = scanner.pos
        scanner.skipNumber(separators: true)
        token(.number, from: start, line: scanner.line)
    }

    /// An identifier, or the prefix of a string (`L"x"`, `u8'x'`) or raw string (`R"d(x)d"`).
    private mutating func identifier() {
        let start = scanner.pos
        let line = scanner.line
        scanner.skipIdentifier()
        let quote = scanner.current()
        if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'"), scanner.pos - start <= 3 {
            let last = scanner.bytes[scanner.pos - 1]
            if last == UInt8(ascii: "R"), quote == UInt8(ascii: "\""), isEncodingPrefix(start, scanner.pos - 1) {
                rawString()
                token(.string, from: start, line: line)
                return
            }
            if isEncodingPrefix(start, scanner.pos) {
                scanner.skipQuoted(quote, multiline: false)
                token(quote == UInt8(ascii: "'") ? .character : .string, from: start, line: line)
                return
            }
        }
        token(.identifier, from: start, line: line)
    }

    /// Whether `start..<end` is empty or `L`, `u`, `U`, `u8` (string prefixes; with an `R` after
    /// them, raw string prefixes).
    private func isEncodingPrefix(_ start: Int, _ end: Int) -> Bool {
        let bytes = scanner.bytes
        switch end - start {
        case 0: return true
        case 1:
            return bytes[start] == UInt8(ascii: "L") || bytes[start] == UInt8(ascii: "u")
                || bytes[start] == UInt8(ascii: "U")
        case 2: return bytes[start] == UInt8(ascii: "u") && bytes[start + 1] == UInt8(ascii: "8")
        default: return false
        }
    }

    /// At the `"` of `R"delim( … )delim"`; an invalid delimiter makes it an ordinary string.
    private mutating func rawString() {
        let bytes = scanner.bytes
        let open = scanner.pos
        var index = open + 1
        while index < scanner.count, index - open <= 17 {
            let byte = bytes[index]
            if byte == UInt8(ascii: "(") { break }
            if byte == UInt8(ascii: ")") || byte == UInt8(ascii: "\\") || byte <= 0x20 || byte == UInt8(ascii: "\"") {
                scanner.skipQuoted(UInt8(ascii: "\""), multiline: false)
                return
            }
            index += 1
        }
        guard index < scanner.count, bytes[index] == UInt8(ascii: "(") else {
            scanner.skipQuoted(UInt8(ascii: "\""), multiline: false)
            return
        }
        let delimiter = (open + 1)..<index
        var position = index + 1
        while position < scanner.count {
            let byte = bytes[position]
            if byte == 0x0A { scanner.line += 1 }
            if byte == UInt8(ascii: ")"), closesRawString(at: position + 1, delimiter: delimiter) {
                scanner.pos = position + 2 + delimiter.count
                return
            }
            position += 1
        }
        scanner.pos = scanner.count
    }

    private func closesRawString(at position: Int, delimiter: Range<Int>) -> Bool {
        guard position + delimiter.count < scanner.count else { return false }
        for offset in 0..<delimiter.count
        where scanner.bytes[position + offset] != scanner.bytes[delimiter.lowerBound + offset] {
            return false
        }
        return scanner.bytes[position + delimiter.count] == UInt8(ascii: "\"")
    }

    /// `<path>` after `#include`: up to `>` on the same line.
    private mutating func headerName() {
        let start = scanner.pos
        var index = start + 1
        while index < scanner.count, scanner.bytes[index] != UInt8(ascii: ">"), scanner.bytes[index] != 0x0A {
            index += 1
        }
        guard index < scanner.count, scanner.bytes[index] == UInt8(ascii: ">") else {
            punctuation(length: 1)
            directive = .other
            return
        }
        scanner.pos = index + 1
        if !dead, index > start + 1 {
            let path = String(
                decoding: UnsafeBufferPointer(rebasing: scanner.bytes[(start + 1)..<index]), as: UTF8.self)
            imports.append(ImportSpec(specifier: path, kind: .angle, line: scanner.line))
        }
        tokenOnLine = true
        hash(start, scanner.pos)
        scanner.pending = []
        directive = .other
    }

    mutating func token(_ kind: TokenKind, from start: Int, line: Int) {
        tokenOnLine = true
        if directive != .none {
            directiveToken(kind, from: start, line: line)
            hash(start, scanner.pos)
            scanner.pending = []
            return
        }
        if dead {
            scanner.pending = []
            return
        }
        hash(start, scanner.pos)
        if collecting {
            scanner.emit(kind, from: start, line: line)
        } else {
            scanner.pending = []
        }
    }

    @inline(__always) mutating func hash(_ start: Int, _ end: Int) {
        guard hashing, !dead else { return }
        hasher.add(UnsafeBufferPointer(rebasing: scanner.bytes[start..<end]))
        hasher.add(CollectionOfOne(0))
    }

    mutating func marker(_ kind: TokenKind) {
        guard collecting else { return }
        let flags = scanner.pending
        scanner.emit(kind, from: scanner.pos, line: scanner.line)
        scanner.pending = flags
    }
}
