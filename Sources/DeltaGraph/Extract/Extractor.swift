/// Lexer-level extraction of what the code graph needs from one source file: its imports, its
/// top-level definitions and an interface fingerprint (DESIGN §8).
///
/// Every language is read by a byte-level lexer over `[UInt8]` that skips comments, strings,
/// character literals, raw strings, template literals and docstrings, so an import written
/// inside one never counts. The lexers are linear in the input and total: invalid UTF-8,
/// unterminated literals and binary garbage end a token at the end of the input (or, for
/// one-line literals, at the newline) instead of failing.
public enum Extractor {
    /// Largest file parsed: token offsets are 32-bit. (The server reads at most 32 MiB.)
    public static let maxSourceBytes = Int(UInt32.max)

    /// The facts of one file, or nil when `language(path:contents:)` is nil or the file is
    /// larger than `maxSourceBytes`.
    ///
    /// Files larger than `DeltaGraph.maxSymbolFileSize` get their imports but no symbols; their
    /// fingerprint is then a hash of the imports and the size (a C/C++ header keeps its token
    /// hash).
    public static func extract(path: String, contents: [UInt8]) -> FileFacts? {
        guard contents.count <= maxSourceBytes, let language = language(path: path, contents: contents) else {
            return nil
        }
        let withSymbols = contents.count <= DeltaGraph.maxSymbolFileSize
        let header = (language == .c || language == .cpp) && isHeader(path)
        return contents.withUnsafeBufferPointer { bytes -> FileFacts in
            var facts: FileFacts
            switch language {
            case .c, .cpp:
                facts = CExtractor.extract(bytes, header: header, withSymbols: withSymbols)
            case .python: facts = PythonExtractor.extract(bytes, withSymbols: withSymbols)
            case .javascript, .typescript: facts = ScriptExtractor.extract(bytes, withSymbols: withSymbols)
            case .go: facts = GoExtractor.extract(bytes, withSymbols: withSymbols)
            case .rust: facts = RustExtractor.extract(bytes, withSymbols: withSymbols)
            case .swift: facts = SwiftExtractor.extract(bytes, withSymbols: withSymbols)
            case .java: facts = JavaExtractor.extract(bytes, withSymbols: withSymbols)
            }
            facts.language = language
            if !withSymbols, !header {
                facts.fingerprint = SymbolFingerprint.of(facts.imports, size: contents.count, package: facts.package)
            }
            return facts
        }
    }
}
