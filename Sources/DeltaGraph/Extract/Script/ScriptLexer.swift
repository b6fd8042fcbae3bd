/// JavaScript/TypeScript lexer: comments, `'`/`"` strings, template literals whose `${ … }`
/// substitutions are lexed as code (nesting tracked on a stack of brace depths), and regular
/// expression literals, recognised when `/` cannot be a division: after an operator, an opening
/// bracket, `,` `;` `:` `}`, a keyword such as `return` or `typeof`, or at the start.
///
/// A template without substitutions is a `.string` token (it is a literal); the parts of one
/// with substitutions are `.template` tokens. JSX text is lexed as code; a stray quote in it
/// ends at the line's end.
struct ScriptLexer {
    var scanner: SourceScanner
    /// Brace depths at which open template substitutions return to their template.
    private var substitutions: [Int] = []
    private var braces = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        scanner = SourceScanner(bytes)
    }

    mutating func run() {
        let bytes = scanner.bytes
        let count = scanner.count
        scanner.skipShebang()
        while scanner.pos < count {
            let byte = bytes[scanner.pos]
            switch byte {
            case 0x20, 0x09, 0x0D, 0x0B, 0x0C:
                scanner.pos += 1
            case 0x0A:
                scanner.newline()
            case UInt8(ascii: "/"):
                if scanner.next() == UInt8(ascii: "/") {
                    scanner.skipLineComment()
                } else if scanner.next() == UInt8(ascii: "*") {
                    scanner.skipBlockComment(nested: false)
                } else if regexAllowed() {
                    regex()
                } else {
                    punctuation()
                }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let start = scanner.pos
                let line = scanner.line
                scanner.skipQuoted(byte, multiline: false)
                scanner.emit(.string, from: start, line: line)
            case UInt8(ascii: "`"):
                template(from: scanner.pos, opening: true)
            case UInt8(ascii: "{"):
                braces += 1
                punctuation()
            case UInt8(ascii: "}"):
                if let depth = substitutions.last, depth == braces {
                    substitutions.removeLast()
                    template(from: scanner.pos, opening: false)
                } else {
                    braces = max(0, braces - 1)
                    punctuation()
                }
            case UInt8(ascii: "."):
                if ByteClass.isDigit(scanner.next()) { number() } else { punctuation() }
            default:
                if ByteClass.isDigit(byte) {
                    number()
                } else if ByteClass.isIdentifierStart(byte) || byte == UInt8(ascii: "$") {
                    let start = scanner.pos
                    scanner.pos += 1
                    scanner.skipIdentifier(dollar: true)
                    scanner.emit(.identifier, from: start, line: scanner.line)
                } else {
                    punctuation()
                }
            }
        }
    }

    private mutating func punctuation() {
        let start = scanner.pos
        scanner.pos += 1
        scanner.emit(.punctuation, from: start, line: scanner.line)
    }

    private mutating func number() {
        let start = scanner.pos
        scanner.skipNumber()
        scanner.emit(.number, from: start, line: scanner.line)
    }

    /// From a backtick (`opening`) or the `}` closing a substitution, to the closing backtick
    /// or the next `${`.
    private mutating func template(from start: Int, opening: Bool) {
        let line = scanner.line
        scanner.pos += 1
        while scanner.pos < scanner.count {
            let byte = scanner.bytes[scanner.pos]
            if byte == UInt8(ascii: "`") {
                scanner.pos += 1
                scanner.emit(opening ? .string : .template, from: start, line: line)
                return
            }
            if byte == UInt8(ascii: "\\") {
                if scanner.next() == 0x0A { scanner.line += 1 }
                scanner.pos = min(scanner.pos + 2, scanner.count)
                continue
            }
            if byte == UInt8(ascii: "$"), scanner.next() == UInt8(ascii: "{") {
                scanner.pos += 2
                scanner.emit(.template, from: start, line: line)
                substitutions.append(braces)
                return
            }
            if byte == 0x0A { scanner.line += 1 }
            scanner.pos += 1
        }
        scanner.emit(.template, from: start, line: line)
    }

    private static let regexKeywords = WordSet([
        "return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield",
        "await",
    ])

    private func regexAllowed() -> Bool {
        guard let last = scanner.tokens.last else { return true }
        switch last.kind {
        case .identifier:
            return Self.regexKeywords.contains(scanner.bytes, start: last.start, end: last.end)
        case .punctuation:
            let byte = scanner.bytes[last.start]
            return byte != UInt8(ascii: ")") && byte != UInt8(ascii: "]")
        case .number, .string, .template, .character:
            return false
        default:
            return true
        }
    }

    /// From `/` past the closing `/` (not inside a `[…]` class) and the flags; a newline ends an
    /// unterminated literal.
    private mutating func regex() {
        let start = scanner.pos
        let line = scanner.line
        scanner.pos += 1
        var inClass = false
        while scanner.pos < scanner.count {
            let byte = scanner.bytes[scanner.pos]
            if byte == 0x0A { break }
            if byte == UInt8(ascii: "\\") {
                if scanner.next() == 0x0A { break }
                scanner.pos = min(scanner.pos + 2, scanner.count)
                continue
            }
            scanner.pos += 1
            if byte == UInt8(ascii: "[") {
                inClass = true
            } else if byte == UInt8(ascii: "]") {
                inClass = false
            } else if byte == UInt8(ascii: "/"), !inClass {
                scanner.skipIdentifier()
                break
            }
        }
        scanner.emit(.template, from: start, line: line)
    }
}
