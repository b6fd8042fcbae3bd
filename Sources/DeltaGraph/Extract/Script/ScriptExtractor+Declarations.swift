extension ScriptExtractor {
    static let maxSignatureTokens = 512

    /// The declaration starting at `index`, after its `export`/`default`/`declare`/`abstract`.
    static func declaration(_ stream: TokenStream, _ index: Int) -> Symbol? {
        var position = index
        var exported = false
        while true {
            if stream.isWord(position, "export") {
                exported = true
            } else if !(stream.isWord(position, "default") || stream.isWord(position, "declare")) {
                break
            }
            position += 1
        }
        let start = position
        if stream.isWord(position, "abstract") || stream.isWord(position, "async") { position += 1 }
        let line = Int(stream[position].line)
        func symbol(_ name: Int, _ kind: String, _ end: Int) -> Symbol {
            Symbol(
                name: stream.text(name), kind: kind, line: line, signature: stream.signature(start..<end),
                exported: exported)
        }
        if stream.isWord(position, "function") {
            var name = position + 1
            if stream.isPunct(name, UInt8(ascii: "*")) { name += 1 }
            guard stream.isIdentifier(name) else { return nil }
            return symbol(name, "function", functionEnd(stream, from: name + 1))
        }
        if stream.isWord(position, "class") {
            guard stream.isIdentifier(position + 1), !stream.isWord(position + 1, "extends"),
                !stream.isWord(position + 1, "implements")
            else { return nil }
            return symbol(position + 1, "class", headerEnd(stream, from: position + 2, stops: [UInt8(ascii: "{")]))
        }
        guard position == start else { return nil }
        if stream.isWord(position, "const"), stream.isWord(position + 1, "enum") { position += 1 }
        let keyword = position
        guard stream.isIdentifier(keyword + 1) else { return nil }
        if stream.isWord(keyword, "const") || stream.isWord(keyword, "let") || stream.isWord(keyword, "var") {
            let kind = stream.isWord(keyword, "const") ? "constant" : "variable"
            var end = keyword + 2
            if stream.isPunct(end, UInt8(ascii: ":")) {
                end = headerEnd(
                    stream, from: end, stops: [UInt8(ascii: "="), UInt8(ascii: ";"), UInt8(ascii: ",")],
                    newlineEnds: true)
            }
            return symbol(keyword + 1, kind, end)
        }
        if stream.isWord(keyword, "interface") {
            return symbol(keyword + 1, "interface", headerEnd(stream, from: keyword + 2, stops: [UInt8(ascii: "{")]))
        }
        if stream.isWord(keyword, "type") {
            let end = headerEnd(stream, from: keyword + 2, stops: [UInt8(ascii: "=")])
            guard stream.isPunct(end, UInt8(ascii: "=")) else { return nil }
            return symbol(keyword + 1, "type", end)
        }
        if stream.isWord(keyword, "enum") { return symbol(keyword + 1, "enum", keyword + 2) }
        if stream.isWord(keyword, "namespace") || stream.isWord(keyword, "module") {
            var end = keyword + 2
            while stream.isPunct(end, UInt8(ascii: ".")), stream.isIdentifier(end + 1) { end += 2 }
            return symbol(keyword + 1, "namespace", end)
        }
        return nil
    }

    /// After a function name: type parameters, the parameters, and a return type annotation;
    /// the index of the body's `{` (or `;`, or where the signature gives up).
    private static func functionEnd(_ stream: TokenStream, from start: Int) -> Int {
        var position = start
        if stream.isPunct(position, UInt8(ascii: "<")) { position = angleEnd(stream, from: position) }
        guard stream.isPunct(position, UInt8(ascii: "(")) else { return position }
        position = stream.skipGroup(from: position, limit: start + maxSignatureTokens)
        guard stream.isPunct(position, UInt8(ascii: ":")) else { return position }
        return headerEnd(
            stream, from: position, stops: [UInt8(ascii: "{"), UInt8(ascii: ";")], typeLiterals: true, newlineEnds: true
        )
    }

    /// Index of the first stop byte at bracket and angle depth 0 (or, with `newlineEnds`, a
    /// newline before a word, or the limit). With `typeLiterals`, a `{` right after `:`, `|`, `&`, `<`,
    /// `,` or `(` is an object type and is skipped.
    private static func headerEnd(
        _ stream: TokenStream, from start: Int, stops: [UInt8], typeLiterals: Bool = false, newlineEnds: Bool = false
    ) -> Int {
        var nest = 0
        var angles = 0
        var position = start
        while position < start + maxSignatureTokens, stream.kind(position) != .end {
            let token = stream[position]
            if token.kind == .punctuation {
                let byte = stream.bytes[token.start]
                if nest == 0, angles == 0, stops.contains(byte) {
                    if byte == UInt8(ascii: "{"), typeLiterals, position > start, isTypeOperator(stream, position - 1) {
                        position = stream.skipGroup(from: position, limit: start + maxSignatureTokens)
                        continue
                    }
                    return position
                }
                switch byte {
                case UInt8(ascii: "<"): angles += 1
                case UInt8(ascii: ">"):
                    if !stream.isPunct(position - 1, UInt8(ascii: "=")) || !stream.adjacent(position - 1, position) {
                        angles = max(0, angles - 1)
                    }
                case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): nest += 1
                case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                    nest -= 1
                    if nest < 0 { return position }
                default: break
                }
            } else if newlineEnds, nest == 0, angles == 0, position > start, token.flags.contains(.newline),
                stream.kind(position - 1) != .punctuation
            {
                return position
            } else if nest == 0, position > start, token.flags.contains(.newline),
                stream.isAnyWord(position, declarationKeywords)
            {
                // The next declaration: a header never runs into it (and scans stay linear).
                return position
            }
            if nest == 0, stream.isPunct(position, UInt8(ascii: ";")) { return position }
            position += 1
        }
        return position
    }

    private static let declarationKeywords = WordSet([
        "class", "function", "const", "let", "var", "export", "import", "interface", "type", "enum", "namespace",
        "declare", "abstract", "async",
    ])

    private static func isTypeOperator(_ stream: TokenStream, _ index: Int) -> Bool {
        stream.isPunct(index, UInt8(ascii: ":")) || stream.isPunct(index, UInt8(ascii: "|"))
            || stream.isPunct(index, UInt8(ascii: "&")) || stream.isPunct(index, UInt8(ascii: "<"))
            || stream.isPunct(index, UInt8(ascii: ",")) || stream.isPunct(index, UInt8(ascii: "("))
    }

    private static func angleEnd(_ stream: TokenStream, from start: Int) -> Int {
        var angles = 0
        var position = start
        while position < start + maxSignatureTokens, stream.kind(position) != .end {
            if stream.isPunct(position, UInt8(ascii: "<")) {
                angles += 1
            } else if stream.isPunct(position, UInt8(ascii: ">")), !stream.isPunct(position - 1, UInt8(ascii: "=")) {
                angles -= 1
                if angles == 0 { return position + 1 }
            }
            position += 1
        }
        return position
    }
}
