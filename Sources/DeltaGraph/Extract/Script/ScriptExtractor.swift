/// JavaScript/TypeScript facts. Imports (kind `.module`, specifier as written): `import … from
/// 's'`, `import 's'`, `import type …`, `export … from 's'`, `require('s')` and `import('s')`
/// with a literal argument, TS `import x = require('s')`. Symbols: declarations at brace,
/// paren and bracket depth 0 that start a statement (start of file, after `;` or `}`, or on a
/// new line), exported when preceded by `export`, listed in a top-level `export { … }`, or
/// assigned to `module.exports`.
enum ScriptExtractor {
    /// How far an `import …` / `export …` statement is searched for its `from 'x'`.
    static let maxStatementTokens = 4096

    static func extract(_ bytes: UnsafeBufferPointer<UInt8>, withSymbols: Bool) -> FileFacts {
        var lexer = ScriptLexer(bytes)
        lexer.run()
        let stream = TokenStream(bytes: bytes, tokens: lexer.scanner.tokens)
        var imports: [ImportSpec] = []
        var symbols: [Symbol] = []
        var exportedNames: Set<String> = []
        var depth = 0
        for index in 0..<stream.count {
            let token = stream[index]
            if token.kind == .punctuation {
                depth = max(0, depth + stream.nesting(index))
                continue
            }
            guard token.kind == .identifier, !stream.isPunct(index - 1, UInt8(ascii: ".")) else { continue }
            if stream.isWord(index, "import") {
                importClause(stream, index, into: &imports)
            } else if stream.isWord(index, "export") {
                exportClause(stream, index, into: &imports, names: &exportedNames)
            } else if stream.isWord(index, "require") {
                if let spec = literalCall(stream, index) { imports.append(spec) }
            } else if depth == 0, stream.isWord(index, "module") {
                commonJSExports(stream, index, names: &exportedNames)
            }
            if withSymbols, depth == 0, startsStatement(stream, index), let symbol = declaration(stream, index) {
                symbols.append(symbol)
            }
        }
        if !exportedNames.isEmpty {
            for index in symbols.indices where exportedNames.contains(symbols[index].name) {
                symbols[index].exported = true
            }
        }
        return FileFacts(
            language: .javascript, imports: imports, symbols: symbols, fingerprint: SymbolFingerprint.of(symbols))
    }

    private static func startsStatement(_ stream: TokenStream, _ index: Int) -> Bool {
        index == 0 || stream[index].flags.contains(.newline) || stream.isPunct(index - 1, UInt8(ascii: ";"))
            || stream.isPunct(index - 1, UInt8(ascii: "}"))
    }

    /// `name('literal')` or `name('literal', …)` at `index`.
    private static func literalCall(_ stream: TokenStream, _ index: Int) -> ImportSpec? {
        guard stream.isPunct(index + 1, UInt8(ascii: "(")), stream.kind(index + 2) == .string,
            stream.isPunct(index + 3, UInt8(ascii: ")")) || stream.isPunct(index + 3, UInt8(ascii: ","))
        else { return nil }
        return ImportSpec(specifier: stream.stringValue(index + 2), kind: .module, line: Int(stream[index + 2].line))
    }

    private static func importClause(_ stream: TokenStream, _ index: Int, into imports: inout [ImportSpec]) {
        if stream.isPunct(index + 1, UInt8(ascii: "(")) {
            if let spec = literalCall(stream, index) { imports.append(spec) }
            return
        }
        if stream.isPunct(index + 1, UInt8(ascii: ":")) || stream.isPunct(index + 1, UInt8(ascii: ".")) { return }
        if stream.kind(index + 1) == .string {
            imports.append(
                ImportSpec(specifier: stream.stringValue(index + 1), kind: .module, line: Int(stream[index + 1].line)))
            return
        }
        var position = index + 1
        while position < index + maxStatementTokens, stream.kind(position) != .end {
            if stream.isWord(position, "from"), stream.kind(position + 1) == .string {
                imports.append(
                    ImportSpec(
                        specifier: stream.stringValue(position + 1), kind: .module, line: Int(stream[position + 1].line)
                    ))
                return
            }
            if stream.isPunct(position, UInt8(ascii: ";")) || stream.isWord(position, "import")
                || stream.isWord(position, "export")
            {
                return
            }
            position += 1
        }
    }

    /// `module.exports = name` and `module.exports = { a, b, c: d }`: the names are exported.
    private static func commonJSExports(_ stream: TokenStream, _ index: Int, names: inout Set<String>) {
        guard stream.isPunct(index + 1, UInt8(ascii: ".")), stream.isWord(index + 2, "exports"),
            stream.isPunct(index + 3, UInt8(ascii: "=")), !stream.isPunct(index + 4, UInt8(ascii: "="))
        else { return }
        if stream.isIdentifier(index + 4) {
            names.insert(stream.text(index + 4))
            return
        }
        guard stream.isPunct(index + 4, UInt8(ascii: "{")) else { return }
        let close = stream.skipGroup(from: index + 4, limit: index + maxStatementTokens)
        var position = index + 5
        while position < close - 1 {
            // A shorthand entry, or the value of `key: value`, when it is a plain name.
            if stream.isIdentifier(position),
                stream.isPunct(position - 1, UInt8(ascii: "{")) || stream.isPunct(position - 1, UInt8(ascii: ","))
                    || stream.isPunct(position - 1, UInt8(ascii: ":")),
                stream.isPunct(position + 1, UInt8(ascii: ",")) || stream.isPunct(position + 1, UInt8(ascii: "}"))
            {
                names.insert(stream.text(position))
            }
            position += 1
        }
    }

    private static func exportClause(
        _ stream: TokenStream, _ index: Int, into imports: inout [ImportSpec], names: inout Set<String>
    ) {
        var position = index + 1
        if stream.isWord(position, "type") { position += 1 }
        if stream.isPunct(position, UInt8(ascii: "*")) {
            while position < index + 8, stream.kind(position) != .end {
                if stream.isWord(position, "from"), stream.kind(position + 1) == .string {
                    imports.append(
                        ImportSpec(
                            specifier: stream.stringValue(position + 1), kind: .module,
                            line: Int(stream[position + 1].line)))
                    return
                }
                position += 1
            }
            return
        }
        if stream.isWord(position, "default"), stream.isIdentifier(position + 1),
            stream.isPunct(position + 2, UInt8(ascii: ";")) || stream[position + 2].flags.contains(.newline)
        {
            names.insert(stream.text(position + 1))
            return
        }
        guard stream.isPunct(position, UInt8(ascii: "{")) else { return }
        let close = stream.skipGroup(from: position, limit: position + maxStatementTokens)
        if stream.isWord(close, "from"), stream.kind(close + 1) == .string {
            imports.append(
                ImportSpec(specifier: stream.stringValue(close + 1), kind: .module, line: Int(stream[close + 1].line)))
            return
        }
        // `export { a, b as c }`: the local names are exported.
        var name = position + 1
        while name < close - 1 {
            if stream.isIdentifier(name), !stream.isWord(name, "as"), !stream.isWord(name, "type"),
                !stream.isWord(name - 1, "as")
            {
                names.insert(stream.text(name))
            }
            name += 1
        }
    }
}
