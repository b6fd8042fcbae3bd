/// A lexed token: a byte range of the source plus what the parsers need about it.
struct SourceToken: Sendable {
    var start: Int
    var end: Int
    var line: Int32
    var kind: TokenKind
    var flags: TokenFlags

    static let end = SourceToken(start: 0, end: 0, line: 0, kind: .end, flags: [])
}
