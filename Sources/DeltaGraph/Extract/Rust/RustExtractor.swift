/// Rust facts. Imports at any depth: `mod name;` (`.rustMod`; inside inline `mod a { … }`
/// blocks the specifier is the path `a/name`), every leaf of a `use` tree (`.rustUse`,
/// `crate::a::{b, c::d}` → `crate::a::b`, `crate::a::c::d`; `self` in a group names the
/// prefix; aliases dropped) and `extern crate name;` (`.rustUse`). Symbols: items at brace
/// depth 0, exported when their visibility starts with `pub` (`macro_rules!` when marked
/// `#[macro_export]`).
enum RustExtractor {
    static let maxSignatureTokens = 512

    static func extract(_ bytes: UnsafeBufferPointer<UInt8>, withSymbols: Bool) -> FileFacts {
        var lexer = RustLexer(bytes)
        lexer.run()
        let stream = TokenStream(bytes: bytes, tokens: lexer.scanner.tokens)
        var imports: [ImportSpec] = []
        var symbols: [Symbol] = []
        var depth = 0
        var nest = 0
        /// Inline modules: the brace depth inside each, and its name.
        var modules: [(depth: Int, name: String)] = []
        var pendingModule: String?
        for index in 0..<stream.count {
            let token = stream[index]
            if token.kind == .punctuation {
                if withSymbols, depth == 0, nest == 0, stream.isPunct(index, UInt8(ascii: "#")),
                    index == 0 || isItemBoundary(stream, index - 1), let symbol = item(stream, index)
                {
                    symbols.append(symbol)
                }
                if stream.isPunct(index, UInt8(ascii: "{")) {
                    depth += 1
                    if let name = pendingModule { modules.append((depth, name)) }
                } else if stream.isPunct(index, UInt8(ascii: "}")) {
                    if let last = modules.last, last.depth == depth { modules.removeLast() }
                    depth = max(0, depth - 1)
                } else {
                    nest = max(0, nest + stream.nesting(index))
                }
                pendingModule = nil
                continue
            }
            guard token.kind == .identifier else { continue }
            if stream.isWord(index, "use"), !stream.isPunct(index - 1, UInt8(ascii: "$")) {
                RustUseTree.expand(stream, from: index + 1, line: Int(token.line), into: &imports)
            } else if stream.isWord(index, "mod"), stream.isIdentifier(index + 1) {
                let name = stream.text(index + 1)
                if stream.isPunct(index + 2, UInt8(ascii: ";")) {
                    let path = (modules.map(\.name) + [name]).joined(separator: "/")
                    imports.append(ImportSpec(specifier: path, kind: .rustMod, line: Int(token.line)))
                } else if stream.isPunct(index + 2, UInt8(ascii: "{")) {
                    pendingModule = name
                }
            } else if stream.isWord(index, "extern"), stream.isWord(index + 1, "crate"), stream.isIdentifier(index + 2),
                !stream.isWord(index + 2, "self")
            {
                imports.append(ImportSpec(specifier: stream.text(index + 2), kind: .rustUse, line: Int(token.line)))
            }
            if withSymbols, depth == 0, nest == 0, index == 0 || isItemBoundary(stream, index - 1),
                let symbol = item(stream, index)
            {
                symbols.append(symbol)
            }
        }
        return FileFacts(
            language: .rust, imports: imports, symbols: symbols, fingerprint: SymbolFingerprint.of(symbols))
    }

    private static func isItemBoundary(_ stream: TokenStream, _ index: Int) -> Bool {
        stream.isPunct(index, UInt8(ascii: ";")) || stream.isPunct(index, UInt8(ascii: "}"))
    }
}
