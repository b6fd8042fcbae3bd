/// Skips an f-string with an explicit stack instead of recursion (nesting depth comes from the
/// input): literal parts, `{{`/`}}`, replacement fields whose expressions hold brackets and
/// further strings, and format specs (after a top-level `:`) whose quotes are literal and
/// whose braces open nested fields. A newline in the literal part of a single-quoted string
/// ends everything (unterminated).
struct FormattedStringScanner {
    var scanner: SourceScanner

    private enum Frame {
        case literal(quote: UInt8, triple: Bool, formatted: Bool)
        case expression(brackets: Int)
        case spec
    }

    private var frames: [Frame] = []

    init(scanner: SourceScanner) {
        self.scanner = scanner
    }

    /// At the opening quote of an f-string.
    mutating func scan(quote: UInt8, triple: Bool) {
        scanner.pos += triple ? 3 : 1
        frames.append(.literal(quote: quote, triple: triple, formatted: true))
        while scanner.pos < scanner.count, let frame = frames.last {
            switch frame {
            case .literal(let quote, let triple, let formatted):
                if !literalStep(quote: quote, triple: triple, formatted: formatted) { return }
            case .expression(let brackets):
                expressionStep(brackets: brackets)
            case .spec:
                if !specStep() { return }
            }
        }
    }

    /// One step in a string's literal part; false when the whole f-string ends.
    private mutating func literalStep(quote: UInt8, triple: Bool, formatted: Bool) -> Bool {
        let byte = scanner.bytes[scanner.pos]
        switch byte {
        case quote:
            if triple {
                guard scanner.next() == quote, scanner.next(2) == quote else {
                    scanner.pos += 1
                    return true
                }
                scanner.pos += 3
            } else {
                scanner.pos += 1
            }
            frames.removeLast()
            return !frames.isEmpty
        case UInt8(ascii: "\\"):
            let next = scanner.next()
            if formatted, next == UInt8(ascii: "{") || next == UInt8(ascii: "}") {
                scanner.pos += 1
            } else {
                if next == 0x0A { scanner.line += 1 }
                scanner.pos = min(scanner.pos + 2, scanner.count)
            }
        case 0x0A:
            guard triple else { return false }
            scanner.line += 1
            scanner.pos += 1
        case UInt8(ascii: "{") where formatted:
            if scanner.next() == UInt8(ascii: "{") {
                scanner.pos += 2
            } else {
                scanner.pos += 1
                frames.append(.expression(brackets: 0))
            }
        case UInt8(ascii: "}") where formatted:
            scanner.pos += scanner.next() == UInt8(ascii: "}") ? 2 : 1
        default:
            scanner.pos += 1
        }
        return true
    }

    private mutating func expressionStep(brackets: Int) {
        let byte = scanner.bytes[scanner.pos]
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
            frames[frames.count - 1] = .expression(brackets: brackets + 1)
            scanner.pos += 1
        case UInt8(ascii: ")"), UInt8(ascii: "]"):
            frames[frames.count - 1] = .expression(brackets: max(0, brackets - 1))
            scanner.pos += 1
        case UInt8(ascii: "}"):
            scanner.pos += 1
            if brackets == 0 {
                frames.removeLast()
            } else {
                frames[frames.count - 1] = .expression(brackets: brackets - 1)
            }
        case UInt8(ascii: ":") where brackets == 0:
            scanner.pos += 1
            frames[frames.count - 1] = .spec
        case UInt8(ascii: "!") where brackets == 0 && scanner.next() != UInt8(ascii: "="):
            scanner.pos += 1
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            openString(prefixStart: scanner.pos)
        case 0x0A:
            scanner.line += 1
            scanner.pos += 1
        default:
            if ByteClass.isIdentifierStart(byte) {
                let start = scanner.pos
                scanner.skipIdentifier()
                let quote = scanner.current()
                if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'"), scanner.pos - start <= 2 {
                    openString(prefixStart: start)
                }
            } else {
                scanner.pos += 1
            }
        }
    }

    /// At the quote of a string inside an expression (its prefix from `prefixStart`).
    private mutating func openString(prefixStart: Int) {
        var formatted = false
        for index in prefixStart..<scanner.pos {
            let letter = scanner.bytes[index] | 0x20
            if letter == UInt8(ascii: "f") || letter == UInt8(ascii: "t") { formatted = true }
        }
        let quote = scanner.current()
        let triple = scanner.next() == quote && scanner.next(2) == quote
        scanner.pos += triple ? 3 : 1
        frames.append(.literal(quote: quote, triple: triple, formatted: formatted))
    }

    /// One step in a format spec; false when a newline ends a single-quoted f-string.
    private mutating func specStep() -> Bool {
        let byte = scanner.bytes[scanner.pos]
        switch byte {
        case UInt8(ascii: "{"):
            scanner.pos += 1
            frames.append(.expression(brackets: 0))
        case UInt8(ascii: "}"):
            scanner.pos += 1
            frames.removeLast()
        case 0x0A:
            guard insideTriple else { return false }
            scanner.line += 1
            scanner.pos += 1
        default:
            scanner.pos += 1
        }
        return true
    }

    private var insideTriple: Bool {
        for frame in frames.reversed() {
            if case .literal(_, let triple, _) = frame { return triple }
        }
        return false
    }
}
