extension TokenStream {
    /// The declaration text of the given tokens: whitespace and comments between tokens become
    /// one space (none after `(`/`[` or before `)`/`]`/`,`/`;`), whitespace inside a token is
    /// collapsed, and a body whose tokens were left out renders as `{ ... }`.
    func signature(_ indices: some Sequence<Int>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(80)
        var previous: SourceToken?
        for index in indices {
            let token = self[index]
            switch token.kind {
            case .conditionalStart, .conditionalBranch, .conditionalEnd, .end: continue
            default: break
            }
            if let before = previous {
                let first = bytes[token.start]
                let last = bytes[before.end - 1]
                if last == UInt8(ascii: "{"), first == UInt8(ascii: "}"), before.end != token.start {
                    out.append(contentsOf: " ... ".utf8)
                } else if before.end != token.start, !Self.noSpaceAfter(last, before), !Self.noSpaceBefore(first, token)
                {
                    out.append(0x20)
                }
            }
            var blank = false
            for offset in token.start..<token.end {
                let byte = bytes[offset]
                if byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D {
                    if !blank { out.append(0x20) }
                    blank = true
                } else {
                    out.append(byte)
                    blank = false
                }
            }
            previous = token
            if out.count > Self.maxSignatureBytes { break }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func noSpaceAfter(_ byte: UInt8, _ token: SourceToken) -> Bool {
        token.kind == .punctuation && (byte == UInt8(ascii: "(") || byte == UInt8(ascii: "["))
    }

    private static func noSpaceBefore(_ byte: UInt8, _ token: SourceToken) -> Bool {
        guard token.kind == .punctuation else { return false }
        return byte == UInt8(ascii: ")") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ",")
            || byte == UInt8(ascii: ";")
    }
}
