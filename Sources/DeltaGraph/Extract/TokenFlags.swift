/// What a lexer saw before a token; the parsers use it to find statement starts.
struct TokenFlags: OptionSet, Sendable {
    let rawValue: UInt8

    /// A newline precedes the token (inside a comment too).
    static let newline = TokenFlags(rawValue: 1)
    /// Python: the token starts a logical line (not inside brackets, not after a continuation).
    static let lineStart = TokenFlags(rawValue: 2)
    /// Python: the token is the first of its physical line and starts in column 0.
    static let column0 = TokenFlags(rawValue: 4)
}
