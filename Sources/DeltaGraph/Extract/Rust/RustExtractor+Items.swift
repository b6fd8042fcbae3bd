extension RustExtractor {
    /// The item starting at `index` (its attributes first): `fn` (with `const`, `async`,
    /// `unsafe`, `extern "C"`), `struct`, `enum`, `union`, `trait`, `type`, `const`, `static`,
    /// `macro_rules!`. The signature runs from the visibility to `{`, `;` or `where` at nesting
    /// 0 (so a `const`'s value is part of it: constants are interface).
    static func item(_ stream: TokenStream, _ index: Int) -> Symbol? {
        var position = index
        var macroExport = false
        while stream.isPunct(position, UInt8(ascii: "#")) {
            var open = position + 1
            if stream.isPunct(open, UInt8(ascii: "!")) { open += 1 }
            guard stream.isPunct(open, UInt8(ascii: "[")) else { return nil }
            if stream.isWord(open + 1, "macro_export") { macroExport = true }
            position = stream.skipGroup(from: open, limit: open + maxSignatureTokens)
        }
        let start = position
        var exported = false
        if stream.isWord(position, "pub") {
            exported = true
            position += 1
            if stream.isPunct(position, UInt8(ascii: "(")) {
                position = stream.skipGroup(from: position, limit: position + maxSignatureTokens)
            }
        }
        if stream.isWord(position, "macro_rules"), stream.isPunct(position + 1, UInt8(ascii: "!")),
            stream.isIdentifier(position + 2)
        {
            let name = stream.text(position + 2)
            return Symbol(
                name: name, kind: "macro", line: Int(stream[position].line), signature: "macro_rules! " + name,
                exported: macroExport)
        }
        while true {
            if stream.isWord(position, "default") || stream.isWord(position, "async")
                || stream.isWord(position, "unsafe")
                || stream.isWord(position, "safe") || stream.isWord(position, "auto")
            {
                position += 1
            } else if stream.isWord(position, "extern") {
                position += stream.kind(position + 1) == .string ? 2 : 1
            } else if stream.isWord(position, "const"),
                stream.isWord(position + 1, "fn") || stream.isWord(position + 1, "unsafe")
                    || stream.isWord(position + 1, "async") || stream.isWord(position + 1, "extern")
            {
                position += 1
            } else {
                break
            }
        }
        let keyword = position
        var kind: String
        switch stream.text(keyword) {
        case "fn": kind = "function"
        case "struct", "enum", "trait": kind = stream.text(keyword)
        case "union":
            guard stream.isIdentifier(keyword + 1) else { return nil }
            kind = "union"
        case "type": kind = "type"
        case "const": kind = "constant"
        case "static": kind = "static"
        default: return nil
        }
        var name = keyword + 1
        if kind == "static", stream.isWord(name, "mut") { name += 1 }
        guard stream.isIdentifier(name), !stream.isWord(name, "_") else { return nil }
        let end = signatureEnd(stream, from: name + 1)
        return Symbol(
            name: stream.text(name), kind: kind, line: Int(stream[keyword].line),
            signature: stream.signature(start..<end),
            exported: exported)
    }

    private static func signatureEnd(_ stream: TokenStream, from start: Int) -> Int {
        var nest = 0
        var position = start
        while position < start + maxSignatureTokens, stream.kind(position) != .end {
            if nest == 0 {
                if stream.isPunct(position, UInt8(ascii: "{")) || stream.isPunct(position, UInt8(ascii: ";"))
                    || stream.isWord(position, "where")
                {
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
