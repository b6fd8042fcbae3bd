extension JavaExtractor {
    private static let modifiers = WordSet([
        "public", "protected", "private", "abstract", "static", "final", "sealed", "strictfp", "default",
        "synchronized", "native", "transient", "volatile",
    ])

    /// Annotations and modifiers from `index`: the first modifier (signatures start there,
    /// without annotations), the index after them, and whether one was `private`.
    private static func prefix(_ stream: TokenStream, _ index: Int) -> (start: Int?, end: Int, exported: Bool) {
        var position = index
        var start: Int?
        var exported = true
        while position < index + maxSignatureTokens {
            if stream.isPunct(position, UInt8(ascii: "@")), !stream.isWord(position + 1, "interface") {
                let (_, after) = qualifiedName(stream, position + 1)
                position = after
                if stream.isPunct(position, UInt8(ascii: "(")) {
                    position = stream.skipGroup(from: position, limit: position + maxSignatureTokens)
                }
                continue
            }
            if stream.isWord(position, "non"), stream.isPunct(position + 1, UInt8(ascii: "-")),
                stream.isWord(position + 2, "sealed")
            {
                if start == nil { start = position }
                position += 3
                continue
            }
            guard stream.isAnyWord(position, modifiers) else { break }
            if stream.isWord(position, "private") { exported = false }
            if start == nil { start = position }
            position += 1
        }
        return (start, position, exported)
    }

    /// A class, interface, enum, record or annotation type at `index`; with `owner`, a nested
    /// one named `Owner.Name`.
    static func typeDeclaration(_ stream: TokenStream, _ index: Int, owner: String?) -> Symbol? {
        let (start, keyword, exported) = prefix(stream, index)
        var kind: String
        var nameIndex = keyword + 1
        if stream.isPunct(keyword, UInt8(ascii: "@")), stream.isWord(keyword + 1, "interface") {
            kind = "annotation"
            nameIndex = keyword + 2
        } else if stream.isWord(keyword, "class") || stream.isWord(keyword, "interface")
            || stream.isWord(keyword, "enum")
        {
            kind = stream.text(keyword)
        } else if stream.isWord(keyword, "record"), stream.isIdentifier(keyword + 1) {
            kind = "record"
        } else {
            return nil
        }
        guard stream.isIdentifier(nameIndex) else { return nil }
        let end = bodyEnd(stream, from: nameIndex + 1)
        let name = stream.text(nameIndex)
        return Symbol(
            name: owner.map { $0 + "." + name } ?? name, kind: kind, line: Int(stream[keyword].line),
            signature: stream.signature((start ?? keyword)..<end), exported: exported)
    }

    /// A member at depth 1 of `owner`'s body: a method, constructor, field or nested type.
    static func member(_ stream: TokenStream, _ index: Int, owner: String) -> Symbol? {
        if let type = typeDeclaration(stream, index, owner: owner) { return type }
        let (start, first, exported) = prefix(stream, index)
        var position = first
        if stream.isPunct(position, UInt8(ascii: "<")) { position = angleEnd(stream, from: position) }
        let typeStart = position
        var angles = 0
        while position < first + maxSignatureTokens, stream.kind(position) != .end {
            if stream.isPunct(position, UInt8(ascii: "<")) {
                angles += 1
            } else if stream.isPunct(position, UInt8(ascii: ">")) {
                angles = max(0, angles - 1)
            } else if angles == 0,
                stream.isPunct(position, UInt8(ascii: "(")) || stream.isPunct(position, UInt8(ascii: "="))
                    || stream.isPunct(position, UInt8(ascii: ";")) || stream.isPunct(position, UInt8(ascii: ","))
                    || stream.isPunct(position, UInt8(ascii: "{")) || stream.isPunct(position, UInt8(ascii: "}"))
            {
                break
            }
            position += 1
        }
        let nameIndex = position - 1
        guard nameIndex >= typeStart, stream.isIdentifier(nameIndex) else { return nil }
        let name = stream.text(nameIndex)
        let simpleOwner = owner.split(separator: ".").last.map(String.init) ?? owner
        let line = Int(stream[nameIndex].line)
        let signatureStart = start ?? first
        if stream.isPunct(position, UInt8(ascii: "("))
            || (stream.isPunct(position, UInt8(ascii: "{")) && name == simpleOwner)
        {
            let constructor = nameIndex == typeStart && name == simpleOwner
            guard constructor || nameIndex > typeStart else { return nil }
            let end = bodyEnd(stream, from: position)
            return Symbol(
                name: owner + "." + name, kind: constructor ? "constructor" : "method", line: line,
                signature: stream.signature(signatureStart..<end), exported: exported)
        }
        guard nameIndex > typeStart, !stream.isPunct(position, UInt8(ascii: "{")),
            !stream.isPunct(position, UInt8(ascii: "}"))
        else { return nil }
        return Symbol(
            name: owner + "." + name, kind: "field", line: line, signature: stream.signature(signatureStart..<position),
            exported: exported)
    }

    /// The `{` or `;` at nesting 0 that ends a declaration header.
    private static func bodyEnd(_ stream: TokenStream, from start: Int) -> Int {
        var nest = 0
        var position = start
        while position < start + maxSignatureTokens, stream.kind(position) != .end {
            if nest == 0, stream.isPunct(position, UInt8(ascii: "{")) || stream.isPunct(position, UInt8(ascii: ";")) {
                return position
            }
            let delta = stream.nesting(position)
            if delta < 0, nest == 0 { return position }
            nest += delta
            position += 1
        }
        return position
    }

    private static func angleEnd(_ stream: TokenStream, from start: Int) -> Int {
        var angles = 0
        var position = start
        while position < start + maxSignatureTokens, stream.kind(position) != .end {
            if stream.isPunct(position, UInt8(ascii: "<")) {
                angles += 1
            } else if stream.isPunct(position, UInt8(ascii: ">")) {
                angles -= 1
                if angles == 0 { return position + 1 }
            }
            position += 1
        }
        return position
    }
}
