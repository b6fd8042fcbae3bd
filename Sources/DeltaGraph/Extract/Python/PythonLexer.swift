/// Python lexer: `#` comments, backslash continuations, string literals with any prefix
/// (`r b f u t` in any case and order), triple quotes, and f-strings whose replacement fields
/// nest further strings (PEP 701) — all skipped as one token. Marks the first token of each
/// logical line (`lineStart`) and whether it starts in column 0.
struct PythonLexer {
    var scanner: SourceScanner
    private var brackets = 0
    private var lineBegin = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        scanner = SourceScanner(bytes)
        lineBegin = scanner.pos
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
                lineBegin = scanner.pos
                if brackets == 0 { scanner.pending.insert(.lineStart) }
            case UInt8(ascii: "#"):
                scanner.skipLineComment()
            case UInt8(ascii: "\\"):
                if scanner.next() == 0x0A || (scanner.next() == 0x0D && scanner.next(2) == 0x0A) {
                    scanner.pos += scanner.next() == 0x0A ? 2 : 3
                    scanner.line += 1
                } else {
                    punctuation()
                }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let start = scanner.pos
                let line = scanner.line
                string(formatted: false)
                emit(.string, start, line)
            case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
                brackets += 1
                punctuation()
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                brackets = max(0, brackets - 1)
                punctuation()
            case UInt8(ascii: "."):
                if ByteClass.isDigit(scanner.next()) { number() } else { punctuation() }
            default:
                if ByteClass.isDigit(byte) {
                    number()
                } else if ByteClass.isIdentifierStart(byte) {
                    identifier()
                } else {
                    punctuation()
                }
            }
        }
    }

    private mutating func emit(_ kind: TokenKind, _ start: Int, _ line: Int) {
        if start == lineBegin { scanner.pending.insert(.column0) }
        scanner.emit(kind, from: start, line: line)
    }

    private mutating func punctuation() {
        let start = scanner.pos
        scanner.pos += 1
        emit(.punctuation, start, scanner.line)
    }

    private mutating func number() {
        let start = scanner.pos
        scanner.skipNumber()
        emit(.number, start, scanner.line)
    }

    private mutating func identifier() {
        let start = scanner.pos
        let line = scanner.line
        scanner.skipIdentifier()
        let quote = scanner.current()
        if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'"), scanner.pos - start <= 2 {
            var formatted = false
            var prefix = true
            for index in start..<scanner.pos {
                switch scanner.bytes[index] | 0x20 {
                case UInt8(ascii: "f"), UInt8(ascii: "t"): formatted = true
                case UInt8(ascii: "b"), UInt8(ascii: "u"), UInt8(ascii: "r"): break
                default: prefix = false
                }
            }
            if prefix {
                string(formatted: formatted)
                emit(.string, start, line)
                return
            }
        }
        emit(.identifier, start, line)
    }

    /// At the opening quote. A backslash always protects the next byte (in raw strings too, where
    /// it only keeps a quote from closing), except a brace of an f-string.
    private mutating func string(formatted: Bool) {
        let quote = scanner.current()
        let triple = scanner.next() == quote && scanner.next(2) == quote
        if !formatted {
            if triple { scanner.skipTripleQuoted(quote) } else { scanner.skipQuoted(quote, multiline: false) }
            return
        }
        var fields = FormattedStringScanner(scanner: scanner)
        fields.scan(quote: quote, triple: triple)
        scanner.pos = fields.scanner.pos
        scanner.line = fields.scanner.line
    }
}
