/// The directive lines: `#` first on a line (after whitespace and comments), up to the next
/// newline not escaped by a backslash. Their tokens never reach the declaration parser.
extension CLexer {
    mutating func startDirective() {
        let start = scanner.pos
        scanner.pos += 1
        tokenOnLine = true
        hash(start, scanner.pos)
        scanner.pending = []
        directive = .name
    }

    mutating func directiveToken(_ kind: TokenKind, from start: Int, line: Int) {
        switch directive {
        case .name:
            directive = .other
            guard kind == .identifier else { return }
            directiveName(start, line: line)
        case .include:
            directive = .other
            guard kind == .string, !dead, scanner.bytes[start] == UInt8(ascii: "\"") else { return }
            let stream = TokenStream(bytes: scanner.bytes, tokens: [])
            let path = stream.value(start: start, end: scanner.pos)
            if !path.isEmpty { imports.append(ImportSpec(specifier: path, kind: .quoted, line: line)) }
        case .define:
            directive = .other
            guard kind == .identifier else { return }
            // `#define F(x)` and `#define F (x)` differ only in whitespace, but not in meaning.
            if hashing, !dead, scanner.current() == UInt8(ascii: "(") { hasher.add(CollectionOfOne(1)) }
            guard collecting else { return }
            macroName = text(start, scanner.pos)
            macroLine = line
            if scanner.current() == UInt8(ascii: "(") {
                directive = .defineParameters
                macroParameters = []
                macroParameter = ""
            } else {
                macros.append(Symbol(name: macroName, kind: "macro", line: line, signature: "#define " + macroName))
            }
        case .defineParameters:
            defineParameter(kind, start)
        case .condition:
            advanceCondition(kind, start)
        case .none, .other:
            break
        }
    }

    private mutating func directiveName(_ start: Int, line: Int) {
        switch text(start, scanner.pos) {
        case "include", "include_next", "import":
            directive = .include
        case "define":
            directive = dead ? .other : .define
        case "if", "elif":
            directive = .condition
            condition = scanner.bytes[start] == UInt8(ascii: "i") ? .opening : .alternative
            conditionState = 0
        case "ifdef", "ifndef":
            condition = .opening
        case "elifdef", "elifndef", "else":
            condition = .alternative
        case "endif":
            condition = .closing
        default:
            break
        }
    }

    private mutating func defineParameter(_ kind: TokenKind, _ start: Int) {
        let byte = scanner.bytes[start]
        if kind == .punctuation, byte == UInt8(ascii: "(") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ")") {
            if !macroParameter.isEmpty { macroParameters.append(macroParameter) }
            macroParameter = ""
            if byte == UInt8(ascii: ")") {
                let signature = "#define \(macroName)(\(macroParameters.joined(separator: ", ")))"
                macros.append(Symbol(name: macroName, kind: "macro", line: macroLine, signature: signature))
                directive = .other
            }
        } else if macroParameter.utf8.count < 256 {
            macroParameter += text(start, scanner.pos)
        }
    }

    /// Tracks whether the condition is exactly `0` or `(0)`.
    private mutating func advanceCondition(_ kind: TokenKind, _ start: Int) {
        let length = scanner.pos - start
        let byte = scanner.bytes[start]
        let zero = kind == .number && length == 1 && byte == UInt8(ascii: "0")
        switch conditionState {
        case 0: conditionState = zero ? 1 : (kind == .punctuation && byte == UInt8(ascii: "(") ? 2 : -1)
        case 2: conditionState = zero ? 3 : -1
        case 3: conditionState = kind == .punctuation && byte == UInt8(ascii: ")") ? 1 : -1
        default: conditionState = -1
        }
    }

    /// At the newline (or the end) closing a directive: applies a conditional.
    mutating func endDirective() {
        let isZero = directive == .condition && conditionState == 1
        directive = .none
        switch condition {
        case .none: break
        case .opening: open(zero: isZero)
        case .alternative: alternative(zero: isZero)
        case .closing: close()
        }
        condition = .none
        if hashing, !dead { hasher.add(CollectionOfOne(0x0A)) }
    }

    private mutating func open(zero: Bool) {
        if dead {
            frames.append(Frame(enclosingDead: true, branchDead: true, marked: false))
        } else if zero {
            frames.append(Frame(enclosingDead: false, branchDead: true, marked: false))
        } else {
            marker(.conditionalStart)
            frames.append(Frame(enclosingDead: false, branchDead: false, marked: true))
        }
        updateDead()
    }

    private mutating func alternative(zero: Bool) {
        guard var frame = frames.popLast() else { return }
        if !frame.enclosingDead {
            frame.branchDead = zero
            if !zero {
                marker(frame.marked ? .conditionalBranch : .conditionalStart)
                frame.marked = true
            }
        }
        frames.append(frame)
        updateDead()
    }

    private mutating func close() {
        guard let frame = frames.popLast() else { return }
        updateDead()
        if frame.marked { marker(.conditionalEnd) }
    }

    private mutating func updateDead() {
        if let frame = frames.last {
            dead = frame.enclosingDead || frame.branchDead
        } else {
            dead = false
        }
    }

    func text(_ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: scanner.bytes[start..<end]), as: UTF8.self)
    }
}
