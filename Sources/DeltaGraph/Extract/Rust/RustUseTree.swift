/// Expands a `use` tree into one path per leaf, without recursion: a stack of prefix lengths
/// over one segment list. Stops at the `;`, or gives up (emitting nothing more) on tokens a use
/// tree cannot hold, such as a macro's `$crate`.
enum RustUseTree {
    static let maxTokens = 4096
    static let maxDepth = 16

    private static let itemKeywords = WordSet([
        "use", "fn", "mod", "pub", "let", "struct", "enum", "impl", "trait", "const", "static", "type", "extern",
    ])

    static func expand(_ stream: TokenStream, from start: Int, line: Int, into imports: inout [ImportSpec]) {
        var segments: [String] = []
        var prefixes: [Int] = []
        /// Whether the current path has segments of its own since the last `{`, `,` or `}`.
        var pathOpen = false
        func emit() {
            guard pathOpen else { return }
            var path = segments
            if path.last == "self", path.count > 1 { path.removeLast() }
            imports.append(ImportSpec(specifier: path.joined(separator: "::"), kind: .rustUse, line: line))
        }
        var position = start
        while position < start + maxTokens {
            let token = stream[position]
            switch token.kind {
            case .identifier:
                // A keyword that starts another item: the tree was not closed.
                if stream.isAnyWord(position, itemKeywords) { return }
                if stream.isWord(position, "as") {
                    position += 2
                    continue
                }
                segments.append(stream.text(position))
                pathOpen = true
            case .punctuation:
                if stream.isPathSeparator(position) { break }
                switch stream.bytes[token.start] {
                case UInt8(ascii: "*"):
                    segments.append("*")
                    pathOpen = true
                case UInt8(ascii: "{"):
                    guard prefixes.count < maxDepth else { return }
                    prefixes.append(segments.count)
                    pathOpen = false
                case UInt8(ascii: ","), UInt8(ascii: "}"):
                    emit()
                    pathOpen = false
                    let keep = prefixes.last ?? 0
                    if stream.bytes[token.start] == UInt8(ascii: "}") {
                        guard let open = prefixes.popLast() else { return }
                        segments.removeLast(max(0, segments.count - open))
                    } else {
                        segments.removeLast(max(0, segments.count - keep))
                    }
                case UInt8(ascii: ";"):
                    emit()
                    return
                default:
                    return
                }
            default:
                return
            }
            position += 1
        }
    }
}
