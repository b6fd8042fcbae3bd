extension SwiftExtractor {
    private static let modifiers = WordSet([
        "public", "private", "fileprivate", "internal", "package", "open", "final", "static", "override", "mutating",
        "nonmutating", "nonisolated", "indirect", "convenience", "required", "lazy", "weak", "unowned", "dynamic",
        "optional", "prefix", "postfix", "infix", "isolated", "consuming", "borrowing", "distributed",
    ])

    /// The declaration starting at `index` (attributes, modifiers, then the keyword), and the
    /// index of the keyword.
    static func declaration(_ stream: TokenStream, _ index: Int) -> (Symbol?, Int) {
        let keyword = keywordIndex(stream, index)
        return (
            declaration(stream, index, keyword: keyword.index, start: keyword.start, exported: keyword.exported),
            keyword.index
        )
    }

    private static func keywordIndex(_ stream: TokenStream, _ index: Int) -> (index: Int, start: Int?, exported: Bool) {
        var position = index
        var start: Int?
        var exported = true
        while position < index + maxSignatureTokens {
            if stream.isPunct(position, UInt8(ascii: "@")), stream.isIdentifier(position + 1) {
                position += 2
                if stream.isPunct(position, UInt8(ascii: "(")), stream.adjacent(position - 1, position) {
                    position = stream.skipGroup(from: position, limit: position + maxSignatureTokens)
                }
                continue
            }
            guard stream.isAnyWord(position, modifiers) else { break }
            if stream.isWord(position, "private") || stream.isWord(position, "fileprivate") { exported = false }
            if start == nil { start = position }
            position += 1
            if stream.isPunct(position, UInt8(ascii: "(")) {
                // `private(set)`
                position = stream.skipGroup(from: position, limit: position + 8)
            }
        }
        return (position, start, exported)
    }

    private static func declaration(_ stream: TokenStream, _ index: Int, keyword: Int, start: Int?, exported: Bool)
        -> Symbol?
    {
        let first = start ?? keyword
        guard stream.isIdentifier(keyword) else { return nil }
        let kind: String
        var stops: [UInt8] = [UInt8(ascii: "{")]
        var newlineEnds = false
        switch stream.text(keyword) {
        case "func": kind = "function"
        case "class", "struct", "enum", "protocol", "actor", "extension": kind = stream.text(keyword)
        case "typealias":
            kind = "typealias"
            newlineEnds = true
        case "let", "var":
            kind = stream.isWord(keyword, "let") ? "constant" : "variable"
            stops = [UInt8(ascii: "{"), UInt8(ascii: "=")]
            newlineEnds = true
        case "macro":
            kind = "macro"
            stops = [UInt8(ascii: "{"), UInt8(ascii: "=")]
            newlineEnds = true
        default: return nil
        }
        var nameEnd = keyword + 2
        let name: String
        if kind == "function", stream.kind(keyword + 1) == .punctuation {
            // An operator: its characters up to the parameters or generic parameters.
            var end = keyword + 1
            while end < keyword + 8, stream.kind(end) == .punctuation, !stream.isPunct(end, UInt8(ascii: "(")),
                !(end > keyword + 1 && stream.isPunct(end, UInt8(ascii: "<")))
            {
                end += 1
            }
            name = stream.joined((keyword + 1)..<end)
            nameEnd = end
        } else if kind == "extension" {
            guard stream.isIdentifier(keyword + 1) else { return nil }
            while stream.isPunct(nameEnd, UInt8(ascii: ".")), stream.isIdentifier(nameEnd + 1) { nameEnd += 2 }
            name = stream.joined((keyword + 1)..<nameEnd)
        } else {
            guard stream.isIdentifier(keyword + 1) else { return nil }
            name = stream.text(keyword + 1)
        }
        guard !name.isEmpty else { return nil }
        let end = signatureEnd(stream, from: nameEnd, stops: stops, newlineEnds: newlineEnds)
        return Symbol(
            name: name, kind: kind, line: Int(stream[keyword].line), signature: stream.signature(first..<end),
            exported: exported)
    }

    private static let declarationKeywords = WordSet([
        "func", "class", "struct", "enum", "protocol", "actor", "extension", "import", "typealias", "let", "var",
        "init", "deinit", "subscript", "public", "private", "fileprivate", "internal", "open", "final",
    ])

    /// The first stop byte at nesting 0 (or a newline before a word with `newlineEnds`, or a
    /// closing bracket of an enclosing group, or the limit).
    private static func signatureEnd(_ stream: TokenStream, from start: Int, stops: [UInt8], newlineEnds: Bool) -> Int {
        var nest = 0
        var position = start
        while position < start + maxSignatureTokens, stream.kind(position) != .end {
            let token = stream[position]
            if nest == 0 {
                if token.kind == .punctuation, stops.contains(stream.bytes[token.start]) { return position }
                if stream.isPunct(position, UInt8(ascii: ";")) { return position }
                if newlineEnds, position > start, token.flags.contains(.newline), token.kind != .punctuation,
                    stream.kind(position - 1) != .punctuation
                {
                    return position
                }
                if position > start, token.flags.contains(.newline), stream.isAnyWord(position, declarationKeywords) {
                    // The next declaration: a header never runs into it (and scans stay linear).
                    return position
                }
            }
            let delta = stream.nesting(position)
            if delta < 0, nest == 0 { return position }
            nest += delta
            position += 1
        }
        return position
    }
}
