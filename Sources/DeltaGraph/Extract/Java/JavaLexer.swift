/// Java lexer: `//` and `/* */` comments, strings, text blocks `"""…"""`, character literals,
/// identifiers with `$`.
struct JavaLexer {
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
                if scanner.next() == byte, scanner.next(2) == byte {
                    scanner.skipTripleQuoted(byte)
                } else {
                    scanner.skipQuoted(byte, multiline: false)
                }
                scanner.emit(.string, from: start, line: line)
            case UInt8(ascii: "'"):
                scanner.skipQuoted(byte, multiline: false)
                scanner.emit(.character, from: start, line: line)
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
                } else if ByteClass.isIdentifierStart(byte) || byte == UInt8(ascii: "$") {
                    scanner.pos += 1
                    scanner.skipIdentifier(dollar: true)
                    scanner.emit(.identifier, from: start, line: line)
                } else {
                    scanner.pos += 1
                    scanner.emit(.punctuation, from: start, line: line)
                }
            }
        }
    }
}
