/// A lexed token: a byte range of the source plus what the parsers need about it.
///
/// 16 bytes: offsets are stored as `UInt32` (sources are at most `Extractor.maxSourceBytes`).
/// A multi-megabyte file is a million tokens or more, and 24-byte tokens in a doubling array
/// were most of the server's peak memory while it indexed a first push.
struct SourceToken: Sendable {
    private var startOffset: UInt32
    private var endOffset: UInt32
    var line: Int32
    var kind: TokenKind
    var flags: TokenFlags

    init(start: Int, end: Int, line: Int32, kind: TokenKind, flags: TokenFlags) {
        startOffset = UInt32(start)
        endOffset = UInt32(end)
        self.line = line
        self.kind = kind
        self.flags = flags
    }

    var start: Int {
        get { Int(startOffset) }
        set { startOffset = UInt32(newValue) }
    }

    var end: Int {
        get { Int(endOffset) }
        set { endOffset = UInt32(newValue) }
    }

    static let end = SourceToken(start: 0, end: 0, line: 0, kind: .end, flags: [])
}
