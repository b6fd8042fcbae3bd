extension GoExtractor {
    /// A `func`, `type`, `const` or `var` declaration at `index`.
    static func declaration(_ stream: TokenStream, _ index: Int, into symbols: inout [Symbol]) {
        if stream.isWord(index, "func") {
            if let symbol = function(stream, index) { symbols.append(symbol) }
            return
        }
        let isType = stream.isWord(index, "type")
        let isConstant = stream.isWord(index, "const")
        guard isType || isConstant || stream.isWord(index, "var") else { return }
        let keyword = stream.text(index)
        for spec in specs(stream, after: index) where stream.isIdentifier(spec.lowerBound) {
            if isType {
                let end = bodyStart(stream, spec)
                let name = stream.text(spec.lowerBound)
                symbols.append(
                    Symbol(
                        name: name, kind: "type", line: Int(stream[spec.lowerBound].line),
                        signature: "type " + stream.signature(spec.lowerBound..<end), exported: isExported(name)))
                continue
            }
            var names: [Int] = []
            var position = spec.lowerBound
            while position < spec.upperBound, stream.isIdentifier(position) {
                names.append(position)
                guard stream.isPunct(position + 1, UInt8(ascii: ",")) else { break }
                position += 2
            }
            var typeEnd = position + 1
            while typeEnd < spec.upperBound, !stream.isPunct(typeEnd, UInt8(ascii: "=")) { typeEnd += 1 }
            let type = typeEnd > position + 1 ? " " + stream.signature((position + 1)..<typeEnd) : ""
            for name in names {
                let text = stream.text(name)
                symbols.append(
                    Symbol(
                        name: text, kind: isConstant ? "constant" : "variable", line: Int(stream[name].line),
                        signature: keyword + " " + text + type, exported: isExported(text)))
            }
        }
    }

    /// `func Name…` or `func (r *T) Name…`: the signature runs to the body.
    private static func function(_ stream: TokenStream, _ index: Int) -> Symbol? {
        var position = index + 1
        var receiver: String?
        if stream.isPunct(position, UInt8(ascii: "(")) {
            let close = stream.skipGroup(from: position, limit: position + maxSignatureTokens)
            var nest = 0
            for inner in (position + 1)..<max(position + 1, close - 1) {
                nest += stream.nesting(inner)
                if nest == 0, stream.isIdentifier(inner) { receiver = stream.text(inner) }
            }
            position = close
        }
        guard stream.isIdentifier(position) else { return nil }
        let name = stream.text(position)
        let end = bodyStart(stream, index..<statementEnd(stream, from: index))
        let qualified = receiver.map { $0 + "." + name } ?? name
        return Symbol(
            name: qualified, kind: receiver == nil ? "function" : "method", line: Int(stream[index].line),
            signature: stream.signature(index..<end), exported: isExported(name))
    }

    /// The `{` at nesting 0 that opens the body in `range` (one after `struct`/`interface` is a
    /// type literal and is skipped), or the range's end.
    private static func bodyStart(_ stream: TokenStream, _ range: Range<Int>) -> Int {
        var nest = 0
        var position = range.lowerBound
        let limit = min(range.upperBound, range.lowerBound + maxSignatureTokens)
        while position < limit {
            if nest == 0, stream.isPunct(position, UInt8(ascii: "{")) {
                let literal = stream.isWord(position - 1, "struct") || stream.isWord(position - 1, "interface")
                if !literal || position == range.upperBound - 1 || isLastBrace(stream, position, range) {
                    return position
                }
                position = stream.skipGroup(from: position, limit: limit)
                continue
            }
            nest = max(0, nest + stream.nesting(position))
            position += 1
        }
        return min(position, range.upperBound)
    }

    /// Whether the group at `open` runs to the end of `range` (a type declaration's body).
    private static func isLastBrace(_ stream: TokenStream, _ open: Int, _ range: Range<Int>) -> Bool {
        stream.skipGroup(from: open, limit: range.upperBound) >= range.upperBound
    }
}
