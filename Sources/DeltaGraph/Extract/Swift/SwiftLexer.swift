/// Swift lexer: nested block comments, line comments, string literals of every form — `"…"`,
/// multi-line `"""…"""`, raw `#"…"#`/`##"…"##`/`#"""…"""#` — with interpolations `\( … )`
/// (`\#( … )` in raw strings) that hold code and further strings, scanned with an explicit
/// stack; extended regex literals `#/…/#`; backquoted identifiers.
struct SwiftLexer {
    var scanner: SourceScanner

    private enum Frame {
        case string(hashes: Int, multiline: Bool)
        case interpolation(parens: Int)
    }

    private var frames: [Frame] = []

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
                string()
                scanner.emit(.string, from: start, line: line)
            case UInt8(ascii: "#"):
                var hashes = 1
                while scanner.next(hashes) == UInt8(ascii: "#") { hashes += 1 }
                let after = scanner.next(hashes)
                if after == UInt8(ascii: "\"") {
                    string()
                    scanner.emit(.string, from: start, line: line)
                } else if after == UInt8(ascii: "/") {
                    regex(hashes: hashes)
                    scanner.emit(.template, from: start, line: line)
                } else {
                    scanner.pos += 1
                    scanner.emit(.punctuation, from: start, line: line)
                }
            case UInt8(ascii: "`"):
                scanner.pos += 1
                while scanner.pos < count, bytes[scanner.pos] != UInt8(ascii: "`"), bytes[scanner.pos] != 0x0A {
                    scanner.pos += 1
                }
                if scanner.current() == UInt8(ascii: "`") { scanner.pos += 1 }
                scanner.emit(.identifier, from: start, line: line)
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

    /// `#/ … /#` with `hashes` on each side; to the end of the input when unterminated.
    private mutating func regex(hashes: Int) {
        scanner.pos += hashes + 1
        while scanner.pos < scanner.count {
            let byte = scanner.bytes[scanner.pos]
            scanner.pos += 1
            if byte == 0x0A {
                scanner.line += 1
            } else if byte == UInt8(ascii: "/"), hashesFollow(scanner.pos, hashes) {
                scanner.pos += hashes
                return
            }
        }
    }

    private func hashesFollow(_ position: Int, _ hashes: Int) -> Bool {
        for offset in 0..<hashes where scanner.byte(at: position + offset) != UInt8(ascii: "#") { return false }
        return true
    }

    /// Opens a string at `scanner.pos` (its `#`s and quotes).
    private mutating func open() {
        var hashes = 0
        while scanner.byte(at: scanner.pos + hashes) == UInt8(ascii: "#") { hashes += 1 }
        let quote = scanner.pos + hashes
        let multiline =
            scanner.byte(at: quote + 1) == UInt8(ascii: "\"") && scanner.byte(at: quote + 2) == UInt8(ascii: "\"")
        scanner.pos = quote + (multiline ? 3 : 1)
        frames.append(.string(hashes: hashes, multiline: multiline))
    }

    /// A whole string literal from its first `#` or quote, interpolations included.
    private mutating func string() {
        frames.removeAll(keepingCapacity: true)
        open()
        while scanner.pos < scanner.count, let frame = frames.last {
            let byte = scanner.bytes[scanner.pos]
            switch frame {
            case .string(let hashes, let multiline):
                if !stringStep(byte, hashes: hashes, multiline: multiline) { return }
            case .interpolation(let parens):
                if !interpolationStep(byte, parens: parens) { return }
            }
        }
    }

    private mutating func stringStep(_ byte: UInt8, hashes: Int, multiline: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "\\"):
            guard hashesFollow(scanner.pos + 1, hashes) else {
                scanner.pos += 1
                return true
            }
            let after = scanner.pos + 1 + hashes
            if scanner.byte(at: after) == UInt8(ascii: "(") {
                scanner.pos = after + 1
                frames.append(.interpolation(parens: 0))
            } else {
                if scanner.byte(at: after) == 0x0A { scanner.line += 1 }
                scanner.pos = min(after + 1, scanner.count)
            }
        case UInt8(ascii: "\""):
            let closing =
                multiline
                ? scanner.next() == UInt8(ascii: "\"") && scanner.next(2) == UInt8(ascii: "\"")
                    && hashesFollow(scanner.pos + 3, hashes)
                : hashesFollow(scanner.pos + 1, hashes)
            if closing {
                scanner.pos += (multiline ? 3 : 1) + hashes
                frames.removeLast()
            } else {
                scanner.pos += 1
            }
        case 0x0A:
            guard multiline else {
                frames.removeAll()
                return false
            }
            scanner.line += 1
            scanner.pos += 1
        default:
            scanner.pos += 1
        }
        return true
    }

    private mutating func interpolationStep(_ byte: UInt8, parens: Int) -> Bool {
        switch byte {
        case UInt8(ascii: "("):
            frames[frames.count - 1] = .interpolation(parens: parens + 1)
            scanner.pos += 1
        case UInt8(ascii: ")"):
            if parens == 0 {
                frames.removeLast()
            } else {
                frames[frames.count - 1] = .interpolation(parens: parens - 1)
            }
            scanner.pos += 1
        case UInt8(ascii: "\""):
            open()
        case UInt8(ascii: "#"):
            var hashes = 1
            while scanner.byte(at: scanner.pos + hashes) == UInt8(ascii: "#") { hashes += 1 }
            if scanner.byte(at: scanner.pos + hashes) == UInt8(ascii: "\"") { open() } else { scanner.pos += hashes }
        case 0x0A:
            guard insideMultiline else {
                frames.removeAll()
                return false
            }
            scanner.line += 1
            scanner.pos += 1
        default:
            scanner.pos += 1
        }
        return true
    }

    private var insideMultiline: Bool {
        for frame in frames.reversed() {
            if case .string(_, let multiline) = frame { return multiline }
        }
        return false
    }
}
