/// Go facts: `package`, imports (single, aliased, `_`, `.`, grouped; kind `.module`, the
/// path as written), and top-level `func`s, methods (`T.Name`), `type`s, `const`s and `var`s,
/// grouped or not. Exported: the (method) name starts with an upper-case letter. The
/// fingerprint covers the package name too.
enum GoExtractor {
    static let maxSignatureTokens = 512

    static func extract(_ bytes: UnsafeBufferPointer<UInt8>, withSymbols: Bool) -> FileFacts {
        var lexer = GoLexer(bytes)
        lexer.run()
        let stream = TokenStream(bytes: bytes, tokens: lexer.scanner.tokens)
        var imports: [ImportSpec] = []
        var symbols: [Symbol] = []
        var package: String?
        var depth = 0
        for index in 0..<stream.count {
            let token = stream[index]
            if token.kind == .punctuation {
                depth = max(0, depth + stream.nesting(index))
                continue
            }
            guard depth == 0, token.kind == .identifier,
                index == 0 || token.flags.contains(.newline) || stream.isPunct(index - 1, UInt8(ascii: ";"))
            else { continue }
            if stream.isWord(index, "package"), package == nil, stream.isIdentifier(index + 1) {
                package = stream.text(index + 1)
            } else if stream.isWord(index, "import") {
                for spec in specs(stream, after: index) {
                    var position = spec.lowerBound
                    if position + 1 < spec.upperBound { position += 1 }
                    if stream.kind(position) == .string {
                        imports.append(
                            ImportSpec(
                                specifier: stream.stringValue(position), kind: .module, line: Int(stream[position].line)
                            ))
                    }
                }
            } else if withSymbols {
                declaration(stream, index, into: &symbols)
            }
        }
        return FileFacts(
            language: .go, imports: imports, symbols: symbols,
            fingerprint: SymbolFingerprint.of(symbols, package: package ?? ""), package: package)
    }

    /// The specs of a declaration whose keyword is at `keyword`: one (up to the end of the
    /// statement) or each of a `( … )` group, as token ranges.
    static func specs(_ stream: TokenStream, after keyword: Int) -> [Range<Int>] {
        guard stream.isPunct(keyword + 1, UInt8(ascii: "(")) else {
            let end = statementEnd(stream, from: keyword + 1)
            return end > keyword + 1 ? [(keyword + 1)..<end] : []
        }
        var ranges: [Range<Int>] = []
        var position = keyword + 2
        while stream.kind(position) != .end, !stream.isPunct(position, UInt8(ascii: ")")) {
            if stream.isPunct(position, UInt8(ascii: ";")) {
                position += 1
                continue
            }
            let end = statementEnd(stream, from: position)
            ranges.append(position..<end)
            position = max(end, position + 1)
        }
        return ranges
    }

    /// The index after a statement starting at `start`: before the first token at nesting 0
    /// that follows a newline, a `;`, or a `)` closing an enclosing group.
    static func statementEnd(_ stream: TokenStream, from start: Int) -> Int {
        var nest = 0
        var position = start
        while stream.kind(position) != .end {
            if position > start, nest == 0, stream[position].flags.contains(.newline) { return position }
            let delta = stream.nesting(position)
            if delta < 0, nest == 0 { return position }
            if nest == 0, stream.isPunct(position, UInt8(ascii: ";")) { return position }
            nest += delta
            position += 1
        }
        return position
    }

    static func isExported(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        return first.properties.isUppercase
    }
}
