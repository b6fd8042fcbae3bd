/// Python facts: `import`/`from … import` statements at any indentation (a statement starts
/// a logical line or follows `;` or a compound statement's `:`), and the top-level (column 0)
/// `def`, `async def`, `class`, `type` aliases and simple assignments. Names starting with `_`
/// are not exported.
enum PythonExtractor {
    static let maxSignatureTokens = 512

    static func extract(_ bytes: UnsafeBufferPointer<UInt8>, withSymbols: Bool) -> FileFacts {
        var lexer = PythonLexer(bytes)
        lexer.run()
        let stream = TokenStream(bytes: bytes, tokens: lexer.scanner.tokens)
        var imports: [ImportSpec] = []
        var symbols: [Symbol] = []
        for index in 0..<stream.count {
            let token = stream[index]
            guard token.kind == .identifier else { continue }
            let statementStart =
                token.flags.contains(.lineStart) || stream.isPunct(index - 1, UInt8(ascii: ";"))
                || stream.isPunct(index - 1, UInt8(ascii: ":"))
            guard statementStart else { continue }
            if stream.isWord(index, "import") {
                importStatement(stream, index, into: &imports)
            } else if stream.isWord(index, "from") {
                fromStatement(stream, index, into: &imports)
            } else if withSymbols, token.flags.contains(.column0), token.flags.contains(.lineStart),
                let symbol = definition(stream, index)
            {
                symbols.append(symbol)
            }
        }
        return FileFacts(
            language: .python, imports: imports, symbols: symbols, fingerprint: SymbolFingerprint.of(symbols))
    }

    /// Whether `index` is past the statement that started before it.
    private static func ends(_ stream: TokenStream, _ index: Int) -> Bool {
        let token = stream[index]
        return token.kind == .end || token.flags.contains(.lineStart) || stream.isPunct(index, UInt8(ascii: ";"))
    }

    /// `a.b.c` from `index`; returns the text and the index after it.
    private static func dottedName(_ stream: TokenStream, _ index: Int) -> (String, Int) {
        var name = ""
        var position = index
        while !ends(stream, position) {
            if stream.isIdentifier(position), !stream.isWord(position, "import"), !stream.isWord(position, "as") {
                name += stream.text(position)
            } else if stream.isPunct(position, UInt8(ascii: ".")) {
                name += "."
            } else {
                break
            }
            position += 1
        }
        return (name, position)
    }

    private static func importStatement(_ stream: TokenStream, _ index: Int, into imports: inout [ImportSpec]) {
        let line = Int(stream[index].line)
        var position = index + 1
        while !ends(stream, position) {
            let (name, after) = dottedName(stream, position)
            guard !name.isEmpty else { return }
            imports.append(ImportSpec(specifier: name, kind: .module, line: line))
            position = after
            if stream.isWord(position, "as") { position += 2 }
            guard stream.isPunct(position, UInt8(ascii: ",")) else { return }
            position += 1
        }
    }

    private static func fromStatement(_ stream: TokenStream, _ index: Int, into imports: inout [ImportSpec]) {
        let (module, after) = dottedName(stream, index + 1)
        guard !module.isEmpty, stream.isWord(after, "import") else { return }
        var names: [String] = []
        var position = after + 1
        var parenthesised = false
        if stream.isPunct(position, UInt8(ascii: "(")) {
            parenthesised = true
            position += 1
        }
        while !ends(stream, position) || (parenthesised && stream.kind(position) != .end && names.count < 10_000) {
            if stream.isPunct(position, UInt8(ascii: "*")) {
                names.append("*")
            } else if stream.isIdentifier(position) {
                names.append(stream.text(position))
                if stream.isWord(position + 1, "as") { position += 2 }
            } else if stream.isPunct(position, UInt8(ascii: ")")) {
                break
            } else if !stream.isPunct(position, UInt8(ascii: ",")) {
                break
            }
            position += 1
        }
        imports.append(ImportSpec(specifier: module, kind: .module, line: Int(stream[index].line), names: names))
    }
}
