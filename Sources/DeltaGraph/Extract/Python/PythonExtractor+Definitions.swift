extension PythonExtractor {
    /// A top-level definition starting at `index` (the first token of a column-0 logical line).
    static func definition(_ stream: TokenStream, _ index: Int) -> Symbol? {
        var keyword = index
        if stream.isWord(index, "async"), stream.isWord(index + 1, "def") { keyword = index + 1 }
        if stream.isWord(keyword, "def") || stream.isWord(keyword, "class") {
            guard stream.isIdentifier(keyword + 1) else { return nil }
            let end = headerEnd(stream, from: keyword + 2)
            let name = stream.text(keyword + 1)
            let kind = stream.isWord(keyword, "def") ? "function" : "class"
            return symbol(name, kind, stream, index, signature: stream.signature(index..<end))
        }
        if stream.isWord(index, "type"), stream.isIdentifier(index + 1), !stream[index + 1].flags.contains(.lineStart) {
            // `type X[T] = …` (3.12); `type = 3` is an assignment.
            var end = index + 2
            if stream.isPunct(end, UInt8(ascii: "[")) {
                end = stream.skipGroup(from: end, limit: end + maxSignatureTokens)
            }
            guard stream.isPunct(end, UInt8(ascii: "=")) else { return nil }
            return symbol(stream.text(index + 1), "type", stream, index, signature: stream.signature(index..<end))
        }
        guard stream.isIdentifier(index), !isKeyword(stream, index) else { return nil }
        if stream.isPunct(index + 1, UInt8(ascii: "=")),
            !stream.isPunct(index + 2, UInt8(ascii: "="))
                || !stream.adjacent(index + 1, index + 2)
        {
            return symbol(stream.text(index), "variable", stream, index, signature: stream.text(index))
        }
        if stream.isPunct(index + 1, UInt8(ascii: ":")) {
            var end = index + 2
            var nest = 0
            while end < index + maxSignatureTokens, stream.kind(end) != .end, !stream[end].flags.contains(.lineStart) {
                nest += stream.nesting(end)
                if nest <= 0, stream.isPunct(end, UInt8(ascii: "=")) || stream.isPunct(end, UInt8(ascii: ";")) { break }
                end += 1
            }
            guard end > index + 2 else { return nil }
            return symbol(stream.text(index), "variable", stream, index, signature: stream.signature(index..<end))
        }
        return nil
    }

    /// The `:` ending a `def`/`class` header at bracket depth 0 (or where the header gives up).
    private static func headerEnd(_ stream: TokenStream, from start: Int) -> Int {
        var nest = 0
        var index = start
        while index < start + maxSignatureTokens, stream.kind(index) != .end {
            if nest == 0, stream[index].flags.contains(.lineStart) { break }
            nest = max(0, nest + stream.nesting(index))
            if nest == 0, stream.isPunct(index, UInt8(ascii: ":")) { break }
            index += 1
        }
        return index
    }

    private static func symbol(_ name: String, _ kind: String, _ stream: TokenStream, _ index: Int, signature: String)
        -> Symbol
    {
        Symbol(
            name: name, kind: kind, line: Int(stream[index].line), signature: signature,
            exported: !name.hasPrefix("_"))
    }

    private static let keywords = WordSet([
        "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "return", "import", "from", "pass",
        "raise", "del", "global", "nonlocal", "assert", "break", "continue", "lambda", "yield", "await", "not", "print",
    ])

    private static func isKeyword(_ stream: TokenStream, _ index: Int) -> Bool {
        stream.isAnyWord(index, keywords)
    }
}
