/// Swift facts. Imports (kind `.module`, the module: the first path component), with any
/// attributes (`@testable`, `@_exported`, `@_spi(X)`), access level and kind (`import struct
/// A.B`). Symbols: declarations at brace depth 0 that start a statement — `func`, `class`,
/// `struct`, `enum`, `protocol`, `actor`, `typealias`, `let`/`var`, `extension` (named after
/// the extended type), `macro` — exported unless `private` or `fileprivate`.
enum SwiftExtractor {
    static let maxSignatureTokens = 512

    private static let importKinds = WordSet([
        "typealias", "struct", "class", "enum", "protocol", "let", "var", "func", "actor", "macro",
    ])

    static func extract(_ bytes: UnsafeBufferPointer<UInt8>, withSymbols: Bool) -> FileFacts {
        var lexer = SwiftLexer(bytes)
        lexer.run()
        let stream = TokenStream(bytes: bytes, tokens: lexer.scanner.tokens)
        var imports: [ImportSpec] = []
        var symbols: [Symbol] = []
        var depth = 0
        /// The keyword of the last declaration read from its attributes: its modifiers on the
        /// lines after the attributes do not start another one.
        var consumed = -1
        for index in 0..<stream.count {
            let token = stream[index]
            if token.kind == .punctuation {
                if withSymbols, depth == 0, index > consumed, stream.isPunct(index, UInt8(ascii: "@")),
                    startsStatement(stream, index)
                {
                    let (symbol, keyword) = declaration(stream, index)
                    consumed = keyword
                    if let symbol { symbols.append(symbol) }
                }
                depth = max(0, depth + stream.nesting(index))
                continue
            }
            guard token.kind == .identifier else { continue }
            if stream.isWord(index, "import"), !stream.isPunct(index - 1, UInt8(ascii: ".")) {
                var name = index + 1
                if stream.isAnyWord(name, importKinds) { name += 1 }
                if stream.isIdentifier(name), !stream.isPunct(name, UInt8(ascii: ":")) {
                    imports.append(ImportSpec(specifier: stream.text(name), kind: .module, line: Int(token.line)))
                }
                continue
            }
            if withSymbols, depth == 0, index > consumed, startsStatement(stream, index) {
                let (symbol, keyword) = declaration(stream, index)
                consumed = keyword
                if let symbol { symbols.append(symbol) }
            }
        }
        return FileFacts(
            language: .swift, imports: imports, symbols: symbols, fingerprint: SymbolFingerprint.of(symbols))
    }

    private static func startsStatement(_ stream: TokenStream, _ index: Int) -> Bool {
        index == 0 || stream[index].flags.contains(.newline) || stream.isPunct(index - 1, UInt8(ascii: ";"))
            || stream.isPunct(index - 1, UInt8(ascii: "}"))
    }
}
