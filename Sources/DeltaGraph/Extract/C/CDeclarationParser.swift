/// Finds the top-level declarations of a C/C++ file in the tokens of `CLexer`: function
/// definitions and prototypes, tagged `struct`/`union`/`enum`/`class` bodies, typedefs and
/// `using` aliases, and variables. `extern "C" {` and `namespace X {` blocks count as top
/// level. Function bodies and other blocks are skipped by brace counting; at a
/// `conditionalBranch` the brace state and the pending declaration return to what they were
/// at the `conditionalStart`, so `#ifdef`/`#else` alternatives that each open a body do not
/// unbalance the count.
struct CDeclarationParser {
    let stream: TokenStream
    private(set) var symbols: [Symbol] = []

    /// A declaration longer than this (tokens at nesting 0) is garbage: no symbol, no analysis.
    static let maxDeclarationTokens = 1024

    private var depth = 0
    private var nest = 0
    private var inner = 0
    private var declaration: [Int] = []
    private var overflow = false
    private var generation = 0
    /// Open `extern "C"` / namespace blocks; true for an anonymous namespace.
    private var blocks: [Bool] = []
    private var anonymousNamespaces = 0
    private var snapshots: [Snapshot] = []

    private struct State {
        var depth: Int
        var nest: Int
        var inner: Int
    }

    private struct Snapshot {
        var state: State
        var generation: Int
        var count: Int
        var overflow: Bool
        var firstBranchEnd: State?
        /// The declaration in progress at the end of the first branch, when it started before
        /// the `#if`; restored at the `#endif` so the first alternative is the one kept.
        var firstBranchDeclaration: [Int]?
    }

    init(stream: TokenStream) {
        self.stream = stream
        declaration.reserveCapacity(64)
    }

    mutating func run() {
        for index in 0..<stream.count { consume(index) }
    }

    private var state: State {
        get { State(depth: depth, nest: nest, inner: inner) }
        set {
            depth = newValue.depth
            nest = newValue.nest
            inner = newValue.inner
        }
    }

    private mutating func consume(_ index: Int) {
        let token = stream.tokens[index]
        switch token.kind {
        case .conditionalStart:
            let snapshot = Snapshot(
                state: state, generation: generation, count: declaration.count, overflow: overflow, firstBranchEnd: nil)
            snapshots.append(snapshot)
            return
        case .conditionalBranch:
            guard var snapshot = snapshots.popLast() else { return }
            if snapshot.firstBranchEnd == nil {
                snapshot.firstBranchEnd = state
                if generation == snapshot.generation, !overflow { snapshot.firstBranchDeclaration = declaration }
            }
            state = snapshot.state
            if generation == snapshot.generation {
                declaration.removeLast(max(0, declaration.count - snapshot.count))
                overflow = snapshot.overflow
            } else {
                // The declaration in progress at the `#if` ended inside the branch.
                declaration.removeAll(keepingCapacity: true)
                overflow = false
                state = State(depth: snapshot.state.depth, nest: 0, inner: 0)
                snapshot.generation = generation
                snapshot.count = 0
                snapshot.overflow = false
                snapshot.firstBranchDeclaration = nil
            }
            snapshots.append(snapshot)
            return
        case .conditionalEnd:
            guard let snapshot = snapshots.popLast() else { return }
            if let end = snapshot.firstBranchEnd { state = end }
            if let first = snapshot.firstBranchDeclaration, generation == snapshot.generation {
                declaration = first
                overflow = false
            }
            return
        case .punctuation:
            break
        default:
            if depth == 0, inner == 0 { append(index) }
            return
        }
        guard token.end - token.start == 1 else {
            if depth == 0, inner == 0 { append(index) }
            return
        }
        let byte = stream.bytes[token.start]
        if depth > 0 {
            if byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "}") {
                depth -= 1
            }
            return
        }
        if inner > 0 {
            if byte == UInt8(ascii: "{") {
                inner += 1
            } else if byte == UInt8(ascii: "}") {
                inner -= 1
                if inner == 0 { append(index) }
            }
            return
        }
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: "["):
            nest += 1
            append(index)
        case UInt8(ascii: ")"), UInt8(ascii: "]"):
            nest = max(0, nest - 1)
            append(index)
        case UInt8(ascii: ";") where nest == 0:
            finish()
        case UInt8(ascii: "{"):
            if nest > 0 {
                append(index)
                inner = 1
            } else {
                open(index)
            }
        case UInt8(ascii: "}"):
            if declaration.isEmpty, let anonymous = blocks.popLast() {
                if anonymous { anonymousNamespaces -= 1 }
            }
            reset()
        default:
            append(index)
        }
    }

    // MARK: - Declarations

    /// A `{` at nesting 0 of a top-level declaration.
    private mutating func open(_ index: Int) {
        guard !overflow, !declaration.isEmpty else {
            reset()
            depth = 1
            return
        }
        let analysis = CDeclaration(stream: stream, tokens: declaration)
        if analysis.isLinkageSpecification {
            blocks.append(false)
            reset()
            return
        }
        if let anonymous = analysis.namespaceOpening {
            blocks.append(anonymous)
            if anonymous { anonymousNamespaces += 1 }
            reset()
            return
        }
        if analysis.hasInitializer {
            append(index)
            inner = 1
            return
        }
        if let aggregate = analysis.aggregate() {
            if let tag = aggregate.tag {
                let signature = analysis.signature(aggregate.keyword..<declaration.count)
                add(
                    stream.text(analysis.index(tag)), aggregate.kind, line: analysis.line(tag), signature: signature,
                    exported: true)
            }
            append(index)
            inner = 1
            return
        }
        if let function = analysis.functionDeclarator() {
            let last = declaration.count - 1
            if function.hasMemberInitializers, analysis.isIdentifier(last) || analysis.isPunct(last, UInt8(ascii: ">"))
            {
                append(index)
                inner = 1
                return
            }
            add(
                function.name, "function", line: analysis.line(function.namePosition),
                signature: analysis.signature(0..<declaration.count),
                exported: !analysis.isStatic(before: function.namePosition))
        } else if let macro = analysis.macroDefinition() {
            add(
                macro.name, "function", line: analysis.line(macro.position),
                signature: analysis.signature(0..<declaration.count),
                exported: !analysis.isStatic(before: macro.position))
        }
        reset()
        depth = 1
    }

    /// A `;` at nesting 0: a prototype, typedef, alias or variable; macro invocations skipped.
    private mutating func finish() {
        defer { reset() }
        guard !overflow, !declaration.isEmpty else { return }
        let analysis = CDeclaration(stream: stream, tokens: declaration)
        let start = analysis.bodyStart
        if analysis.isTypedef {
            if let name = analysis.pointerDeclarator() ?? analysis.declaredName() {
                add(
                    stream.text(analysis.index(name)), "typedef", line: analysis.line(name),
                    signature: analysis.signature(0..<declaration.count), exported: true)
            }
            return
        }
        if analysis.isWord(start, "using") {
            if analysis.isIdentifier(start + 1), analysis.isPunct(start + 2, UInt8(ascii: "=")) {
                add(
                    stream.text(analysis.index(start + 1)), "typedef", line: analysis.line(start + 1),
                    signature: analysis.signature(0..<declaration.count), exported: true)
            }
            return
        }
        if analysis.isWord(start, "namespace") || analysis.isWord(0, "template") || analysis.isWord(start, "friend") {
            if let function = analysis.functionDeclarator() {
                add(
                    function.name, "declaration", line: analysis.line(function.namePosition),
                    signature: analysis.signature(0..<declaration.count),
                    exported: !analysis.isStatic(before: function.namePosition))
            }
            return
        }
        if let function = analysis.functionDeclarator() {
            add(
                function.name, "declaration", line: analysis.line(function.namePosition),
                signature: analysis.signature(0..<declaration.count),
                exported: !analysis.isStatic(before: function.namePosition))
            return
        }
        let name: Int
        if let pointer = analysis.pointerDeclarator() {
            name = pointer
        } else if !analysis.hasInvocation, let declared = analysis.declaredName() {
            name = declared
        } else {
            return
        }
        add(
            stream.text(analysis.index(name)), analysis.isExternal ? "declaration" : "variable",
            line: analysis.line(name),
            signature: analysis.signature(0..<analysis.initializerStart), exported: !analysis.isStatic(before: name))
    }

    private mutating func append(_ index: Int) {
        guard !overflow else { return }
        if declaration.count >= Self.maxDeclarationTokens {
            overflow = true
        } else {
            declaration.append(index)
        }
    }

    private mutating func reset() {
        declaration.removeAll(keepingCapacity: true)
        overflow = false
        nest = 0
        inner = 0
        generation &+= 1
    }

    private mutating func add(_ name: String, _ kind: String, line: Int, signature: String, exported: Bool) {
        guard !name.isEmpty else { return }
        symbols.append(
            Symbol(
                name: name, kind: kind, line: line, signature: signature, exported: exported && anonymousNamespaces == 0
            ))
    }
}
