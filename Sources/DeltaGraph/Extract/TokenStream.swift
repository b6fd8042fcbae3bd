/// Lexed tokens with their source, and the queries the declaration parsers ask of them.
/// Indices past the end read as `SourceToken.end`.
struct TokenStream {
    let bytes: UnsafeBufferPointer<UInt8>
    let tokens: [SourceToken]

    /// Longest signature kept; longer ones (generated code, garbage) are cut.
    static let maxSignatureBytes = 2048

    var count: Int { tokens.count }

    @inline(__always) subscript(_ index: Int) -> SourceToken {
        index >= 0 && index < tokens.count ? tokens[index] : .end
    }

    @inline(__always) func kind(_ index: Int) -> TokenKind { self[index].kind }

    /// Whether token `index` is the punctuation byte `byte` (not `::`).
    @inline(__always) func isPunct(_ index: Int, _ byte: UInt8) -> Bool {
        let token = self[index]
        return token.kind == .punctuation && token.end - token.start == 1 && bytes[token.start] == byte
    }

    /// Whether token `index` is `::`.
    func isPathSeparator(_ index: Int) -> Bool {
        let token = self[index]
        return token.kind == .punctuation && token.end - token.start == 2
    }

    @inline(__always) func isIdentifier(_ index: Int) -> Bool { kind(index) == .identifier }

    /// Whether token `index` is the identifier `word`.
    func isWord(_ index: Int, _ word: StaticString) -> Bool {
        let token = self[index]
        guard token.kind == .identifier, token.end - token.start == word.utf8CodeUnitCount else { return false }
        let text = word.utf8Start
        for offset in 0..<word.utf8CodeUnitCount where bytes[token.start + offset] != text[offset] {
            return false
        }
        return true
    }

    func isAnyWord(_ index: Int, _ words: WordSet) -> Bool {
        let token = self[index]
        guard token.kind == .identifier else { return false }
        return words.contains(bytes, start: token.start, end: token.end)
    }

    /// Whether two tokens touch in the source (`-` `>` of `->`).
    func adjacent(_ first: Int, _ second: Int) -> Bool { self[first].end == self[second].start }

    /// The first byte of an identifier token (0 for others).
    func firstByte(_ index: Int) -> UInt8 {
        let token = self[index]
        return token.end > token.start ? bytes[token.start] : 0
    }

    func text(_ index: Int) -> String {
        let token = self[index]
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[token.start..<token.end]), as: UTF8.self)
    }

    /// Concatenated texts of a token range (`a.b.c`, `A::foo`).
    func joined(_ range: Range<Int>) -> String {
        var result = ""
        for index in range { result += text(index) }
        return result
    }

    /// A string literal's content: prefix letters, `#` delimiters and one or three quotes are
    /// removed from both ends; escapes stay as written.
    func stringValue(_ index: Int) -> String {
        let token = self[index]
        return value(start: token.start, end: token.end)
    }

    /// `stringValue` of a byte range.
    func value(start literalStart: Int, end literalEnd: Int) -> String {
        var start = literalStart
        var end = literalEnd
        while start < end, ByteClass.isIdentifierStart(bytes[start]) || bytes[start] == UInt8(ascii: "#") {
            start += 1
        }
        while end > start, bytes[end - 1] == UInt8(ascii: "#") { end -= 1 }
        guard start < end else { return "" }
        let quote = bytes[start]
        var quotes = 1
        if end - start >= 6, bytes[start + 1] == quote, bytes[start + 2] == quote { quotes = 3 }
        start += quotes
        if end - start >= quotes, bytes[end - 1] == quote { end -= quotes }
        guard start < end else { return "" }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// Index after the group opened at `open` (`(`, `[`, `{`, or `<` with `angles`), or the
    /// end of the tokens; other brackets inside are counted so the match is balanced.
    func skipGroup(from open: Int, limit: Int = Int.max) -> Int {
        var depth = 0
        var index = open
        let stop = min(tokens.count, limit)
        while index < stop {
            let token = tokens[index]
            if token.kind == .punctuation, token.end - token.start == 1 {
                switch bytes[token.start] {
                case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    if depth <= 0 { return index + 1 }
                default: break
                }
            }
            index += 1
        }
        return stop
    }

    /// The opening bracket delta of a token: +1 for `(`, `[`, `{`; -1 for the closers; 0 else.
    @inline(__always) func nesting(_ index: Int) -> Int {
        let token = self[index]
        guard token.kind == .punctuation, token.end - token.start == 1 else { return 0 }
        switch bytes[token.start] {
        case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): return 1
        case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"): return -1
        default: return 0
        }
    }
}
