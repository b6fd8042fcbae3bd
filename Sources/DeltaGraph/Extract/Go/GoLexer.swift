/// Go lexer: `//` and `/* */` comments, interpreted strings, raw strings in backquotes (which
/// may span lines), rune literals. Newlines are kept as token flags: they end statements.
struct GoLexer {
    var scanner: SourceScanner

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        scanner = SourceScanner(bytes)
    }

    mutating func run() {
        let bytes = scanner.bytes
        let count = scanner.count
        while scanner.pos < count {
            let byte = bytes[scanner.pos]
            let start = scanner.pos
            let line = scanner.line
            if scanner.skipTrivia(nestedComments: false) { continue }
            switch byte {
            case UInt8(ascii: "\""):
                scanner.skipQuoted(byte, multiline: false)
                scanner.emit(.string, from: start, line: line)
            case UInt8(ascii: "'"):
                scanner.skipQuoted(byte, multiline: false)
                scanner.emit(.character, from: start, line: line)
            case UInt8(ascii: "`"):
                scanner.skipQuoted(byte, multiline: true, escapes: false)
                scanner.emit(.string, from: start, line: line)
            case UInt8(ascii: "."):
                if ByteClass.isDigit(scanner.next()) {
                    scanner.skipNumber()
                    scanner.emit(.number, from: start, line: line)
                } else {
                    scanner.pos += 1
                    scanner.emit(.punctuation, from: start, line: line)
                }
            default:
                if ByteClass.isDigit(byte) {
                    scanner.skipNumber()
                    scanner.emit(.number, from: start, line: line)
                } else if ByteClass.isIdentifierStart(byte) {
                    scanner.skipIdentifier()
                    scanner.emit(.identifier, from: start, line: line)
                } else {
                    scanner.pos += 1
                    scanner.emit(.punctuation, from: start, line: line)
                }
            }
        }
    }
}
