/// The kind of a lexed token. Comments and whitespace are never tokens.
enum TokenKind: UInt8, Sendable {
    case identifier
    case number
    /// A string literal with its quotes and prefix (`"x"`, `r#"x"#`, `b'x'`, a JS template
    /// without substitutions).
    case string
    /// A character literal (`'a'`), or a Rust lifetime (`'a`).
    case character
    /// One punctuation byte, or `::`.
    case punctuation
    /// Part of a JS template literal with substitutions, or a regular expression literal.
    case template
    /// C preprocessor conditionals seen by the declaration parser (`#if`, `#else`/`#elif`,
    /// `#endif` of a live conditional); empty ranges.
    case conditionalStart
    case conditionalBranch
    case conditionalEnd
    /// Past the last token.
    case end
}
