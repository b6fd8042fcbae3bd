/// C and C++ facts: includes from `CLexer`, macros, and the declarations of
/// `CDeclarationParser`. A header's fingerprint is the hash of its live token stream (so any
/// token change counts, comments and whitespace never do); another file's is the hash of its
/// exported symbols.
enum CExtractor {
    static func extract(_ bytes: UnsafeBufferPointer<UInt8>, header: Bool, withSymbols: Bool) -> FileFacts {
        var lexer = CLexer(bytes, hashing: header, collecting: withSymbols)
        lexer.run()
        var symbols: [Symbol] = []
        if withSymbols {
            var parser = CDeclarationParser(stream: TokenStream(bytes: bytes, tokens: lexer.scanner.tokens))
            parser.run()
            symbols = Self.merge(lexer.macros, parser.symbols)
        }
        let fingerprint = header ? lexer.hasher.hex : SymbolFingerprint.of(symbols)
        return FileFacts(language: .c, imports: lexer.imports, symbols: symbols, fingerprint: fingerprint)
    }

    /// Both lists are in line order; the result is too.
    private static func merge(_ first: [Symbol], _ second: [Symbol]) -> [Symbol] {
        guard !first.isEmpty else { return second }
        guard !second.isEmpty else { return first }
        var result: [Symbol] = []
        result.reserveCapacity(first.count + second.count)
        var left = 0
        var right = 0
        while left < first.count, right < second.count {
            if second[right].line < first[left].line {
                result.append(second[right])
                right += 1
            } else {
                result.append(first[left])
                left += 1
            }
        }
        result.append(contentsOf: first[left...])
        result.append(contentsOf: second[right...])
        return result
    }
}
