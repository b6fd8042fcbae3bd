/// Java facts: `package`, imports (`a.b.C`, `a.b.*`; static imports with names `["static"]`),
/// top-level types (`class`, `interface`, `enum`, `record`, `@interface` → kind
/// `annotation`) and, at depth 1 of a top-level type, its methods (`A.m`), constructors,
/// fields and nested types. Exported: not `private`. The fingerprint covers the package too.
enum JavaExtractor {
    static let maxSignatureTokens = 512

    static func extract(_ bytes: UnsafeBufferPointer<UInt8>, withSymbols: Bool) -> FileFacts {
        var lexer = JavaLexer(bytes)
        lexer.run()
        let stream = TokenStream(bytes: bytes, tokens: lexer.scanner.tokens)
        var imports: [ImportSpec] = []
        var symbols: [Symbol] = []
        var package: String?
        var depth = 0
        var nest = 0
        /// The top-level type whose body is open, and whether its enum constants are still to come.
        var owner: String?
        var enumConstants = false
        for index in 0..<stream.count {
            let token = stream[index]
            let boundary =
                index == 0 || stream.isPunct(index - 1, UInt8(ascii: ";"))
                || stream.isPunct(index - 1, UInt8(ascii: "}"))
                || stream.isPunct(index - 1, UInt8(ascii: "{"))
            if depth == 0, nest == 0, boundary {
                if stream.isWord(index, "package") {
                    let (name, _) = qualifiedName(stream, index + 1)
                    if package == nil, !name.isEmpty { package = name }
                } else if stream.isWord(index, "import") {
                    importDeclaration(stream, index, into: &imports)
                } else if withSymbols, let type = typeDeclaration(stream, index, owner: nil) {
                    symbols.append(type)
                    owner = type.name
                    enumConstants = type.kind == "enum"
                }
            } else if withSymbols, depth == 1, nest == 0, boundary, let type = owner {
                if enumConstants {
                    if stream.isPunct(index - 1, UInt8(ascii: ";")) { enumConstants = false }
                }
                if !enumConstants, let member = member(stream, index, owner: type) { symbols.append(member) }
            }
            if token.kind == .punctuation {
                if stream.isPunct(index, UInt8(ascii: "{")) {
                    depth += 1
                } else if stream.isPunct(index, UInt8(ascii: "}")) {
                    depth = max(0, depth - 1)
                    if depth == 0 { owner = nil }
                } else {
                    nest = max(0, nest + stream.nesting(index))
                }
            }
        }
        return FileFacts(
            language: .java, imports: imports, symbols: symbols,
            fingerprint: SymbolFingerprint.of(symbols, package: package ?? ""), package: package)
    }

    /// `a.b.c` (and a trailing `.*`) from `index`, and the index after it.
    static func qualifiedName(_ stream: TokenStream, _ index: Int) -> (String, Int) {
        var name = ""
        var position = index
        while position < index + maxSignatureTokens {
            if stream.isIdentifier(position) || stream.isPunct(position, UInt8(ascii: "*")) {
                name += stream.text(position)
                position += 1
            } else {
                break
            }
            guard stream.isPunct(position, UInt8(ascii: ".")), !stream.isPunct(position - 1, UInt8(ascii: "*")) else {
                break
            }
            name += "."
            position += 1
        }
        return (name, position)
    }

    private static func importDeclaration(_ stream: TokenStream, _ index: Int, into imports: inout [ImportSpec]) {
        var position = index + 1
        let isStatic = stream.isWord(position, "static")
        if isStatic { position += 1 }
        let (name, end) = qualifiedName(stream, position)
        guard !name.isEmpty, stream.isPunct(end, UInt8(ascii: ";")) else { return }
        imports.append(
            ImportSpec(specifier: name, kind: .module, line: Int(stream[index].line), names: isStatic ? ["static"] : [])
        )
    }
}
