/// One top-level C/C++ declaration as the parser collected it: its tokens at brace depth 0
/// (a body inside it is kept as just its `{` and `}`), and the heuristics that find what it
/// declares. Positions are indices into `tokens`.
struct CDeclaration {
    let stream: TokenStream
    let tokens: [Int]
    /// Position after the leading `template <…>` headers.
    let bodyStart: Int
    /// Position of the first `=` at nesting 0 (an initializer), or `tokens.count`.
    let initializerStart: Int

    init(stream: TokenStream, tokens: [Int]) {
        self.stream = stream
        self.tokens = tokens
        var start = 0
        while start < tokens.count, stream.isWord(tokens[start], "template") {
            start = Self.skipAngles(stream, tokens, from: start + 1)
        }
        bodyStart = start
        var nest = 0
        var initializer = tokens.count
        for position in start..<tokens.count {
            let index = tokens[position]
            nest = max(0, nest + stream.nesting(index))
            if nest == 0, stream.isPunct(index, UInt8(ascii: "=")), !Self.isOperatorPart(stream, tokens, position) {
                initializer = position
                break
            }
        }
        initializerStart = initializer
    }

    @inline(__always) func index(_ position: Int) -> Int {
        position >= 0 && position < tokens.count ? tokens[position] : -1
    }

    func isWord(_ position: Int, _ word: StaticString) -> Bool { stream.isWord(index(position), word) }

    func isPunct(_ position: Int, _ byte: UInt8) -> Bool { stream.isPunct(index(position), byte) }

    func isIdentifier(_ position: Int) -> Bool { stream.isIdentifier(index(position)) }

    func line(_ position: Int) -> Int { Int(stream[index(position)].line) }

    func signature(_ range: Range<Int>) -> String { stream.signature(tokens[range]) }

    var hasInitializer: Bool { initializerStart < tokens.count }

    /// `extern "C"` (before `{`).
    var isLinkageSpecification: Bool {
        tokens.count == 2 && isWord(0, "extern") && stream.kind(index(1)) == .string
    }

    /// nil unless `namespace X` / `inline namespace X` / `namespace` (before `{`); true when
    /// anonymous.
    var namespaceOpening: Bool? {
        let start = isWord(0, "inline") ? 1 : 0
        guard isWord(start, "namespace") else { return nil }
        return start + 1 == tokens.count
    }

    var isTypedef: Bool {
        isWord(bodyStart, "typedef") || (isWord(bodyStart, "__extension__") && isWord(bodyStart + 1, "typedef"))
    }

    /// `static` at nesting 0 before `limit`.
    func isStatic(before limit: Int) -> Bool {
        var nest = 0
        for position in bodyStart..<min(limit, tokens.count) {
            nest = max(0, nest + stream.nesting(index(position)))
            if nest == 0, isWord(position, "static") { return true }
        }
        return false
    }

    var isExternal: Bool { isWord(bodyStart, "extern") }

    // MARK: - Words

    /// Keywords that can never name a declaration.
    static let keywords = WordSet([
        "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool", "bool", "_Complex",
        "const", "volatile", "restrict", "__restrict", "static", "extern", "inline", "register", "auto", "typedef",
        "struct", "union", "enum", "class", "typename", "template", "if", "while", "for", "switch", "return",
        "sizeof", "typeof", "__typeof__", "__typeof", "decltype", "alignof", "_Alignof", "case", "default", "do",
        "else", "goto", "break", "continue", "throw", "noexcept", "new", "delete", "operator", "using", "namespace",
        "virtual", "explicit", "friend", "constexpr", "consteval", "constinit", "thread_local", "_Thread_local",
        "__thread", "mutable", "public", "private", "protected", "__extension__", "__inline", "__inline__",
    ])

    /// Words that, followed by a parenthesised group, are attributes rather than declarators.
    static let attributeWords = WordSet([
        "__attribute__", "__attribute", "__declspec", "alignas", "_Alignas", "__aligned", "__section", "__printf",
        "__scanf", "__alloc_size", "__malloc", "asm", "__asm__", "__asm", "__counted_by", "__must_hold", "__acquires",
        "__releases", "__cond_acquires", "__cond_releases", "__diagnose_as", "_Static_assert", "static_assert",
        "__nocfi", "__no_sanitize_address", "__deprecated", "__section__", "__aligned__",
    ])

    /// Storage classes and specifiers that are not a type: `static DEFINE_MUTEX(x);` has no
    /// return type, so it is a macro invocation.
    static let specifierWords = WordSet([
        "static", "extern", "inline", "__inline", "__inline__", "__always_inline", "register", "thread_local",
        "_Thread_local", "__thread", "constexpr", "consteval", "constinit", "virtual", "explicit", "friend", "const",
        "volatile", "__extension__", "noinline", "__init", "__exit", "__weak", "__visible", "asmlinkage",
    ])

    func isKeyword(_ position: Int) -> Bool { stream.isAnyWord(index(position), Self.keywords) }

    func isAttributeWord(_ position: Int) -> Bool { stream.isAnyWord(index(position), Self.attributeWords) }

    /// An identifier that contributes to a type (not a specifier or attribute).
    func isTypeWord(_ position: Int) -> Bool {
        isIdentifier(position) && !stream.isAnyWord(index(position), Self.specifierWords) && !isAttributeWord(position)
    }

    func isAggregateKeyword(_ position: Int) -> Bool {
        isWord(position, "struct") || isWord(position, "union") || isWord(position, "enum") || isWord(position, "class")
    }

    /// Whether the identifier at `position` is a tag (`struct foo`).
    func isTag(_ position: Int) -> Bool { position > 0 && isAggregateKeyword(position - 1) }

    func startsWithDoubleUnderscore(_ position: Int) -> Bool {
        let token = stream[index(position)]
        return token.end - token.start > 2 && stream.bytes[token.start] == 0x5F && stream.bytes[token.start + 1] == 0x5F
    }

    // MARK: - Helpers

    /// Position after the `<…>` starting at `from` (angle brackets counted, parentheses too).
    static func skipAngles(_ stream: TokenStream, _ tokens: [Int], from: Int) -> Int {
        guard from < tokens.count, stream.isPunct(tokens[from], UInt8(ascii: "<")) else { return from }
        var angles = 0
        var nest = 0
        var position = from
        while position < tokens.count {
            let index = tokens[position]
            nest = max(0, nest + stream.nesting(index))
            if nest == 0 {
                if stream.isPunct(index, UInt8(ascii: "<")) {
                    angles += 1
                } else if stream.isPunct(index, UInt8(ascii: ">")) {
                    angles -= 1
                    if angles == 0 { return position + 1 }
                }
            }
            position += 1
        }
        return position
    }

    /// `=` of `operator=`, `operator==`, `==`, `<=`, `!=`, …
    private static func isOperatorPart(_ stream: TokenStream, _ tokens: [Int], _ position: Int) -> Bool {
        let index = tokens[position]
        if position + 1 < tokens.count, stream.isPunct(tokens[position + 1], UInt8(ascii: "=")),
            stream.adjacent(index, tokens[position + 1])
        {
            return true
        }
        guard position > 0 else { return false }
        let before = tokens[position - 1]
        if stream.isWord(before, "operator") { return true }
        guard stream.kind(before) == .punctuation, stream.adjacent(before, index) else { return false }
        switch stream.bytes[stream[before].start] {
        case UInt8(ascii: "="), UInt8(ascii: "!"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "+"),
            UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "|"), UInt8(ascii: "^"):
            return true
        default:
            return false
        }
    }
}
