/// Finding the declared name: a function declarator, an aggregate tag, a pointer declarator
/// `(*name)`, a typedef or variable name.
extension CDeclaration {
    struct FunctionDeclarator {
        var name: String
        /// Position of the name's last token.
        var namePosition: Int
        /// A `:` follows the parameters (a C++ constructor's member initializers).
        var hasMemberInitializers: Bool
    }

    struct Aggregate {
        var kind: String
        var keyword: Int
        var tag: Int?
    }

    /// The first `name(` at nesting 0 before any initializer that has a return type before it
    /// (or is qualified: `A::A(`), skipping attributes, keywords and tags.
    func functionDeclarator() -> FunctionDeclarator? {
        var nest = 0
        var firstTypeWord = Int.max
        var position = bodyStart
        while position < initializerStart {
            let delta = stream.nesting(index(position))
            if delta > 0 {
                if nest == 0, isPunct(position, UInt8(ascii: "(")),
                    let declarator = declarator(open: position, firstTypeWord: firstTypeWord)
                {
                    return declarator
                }
                nest += 1
            } else if delta < 0 {
                nest = max(0, nest - 1)
            } else if nest == 0, firstTypeWord == Int.max, isTypeWord(position) {
                firstTypeWord = position
            }
            position += 1
        }
        return nil
    }

    private func declarator(open: Int, firstTypeWord: Int) -> FunctionDeclarator? {
        var last = open - 1
        var start = last
        var groupOpen = open
        if isWord(last, "operator"), isPunct(open + 1, UInt8(ascii: ")")), isPunct(open + 2, UInt8(ascii: "(")) {
            last = open + 1
            groupOpen = open + 2
        } else if stream.kind(index(last)) == .punctuation {
            // `operator==(`, `operator<<(`, `operator new[](`.
            var probe = last
            while probe > bodyStart, probe > last - 3, stream.kind(index(probe)) == .punctuation { probe -= 1 }
            guard isWord(probe, "operator") else { return nil }
            start = probe
        } else {
            guard isIdentifier(last), !isAttributeWord(last), !isTag(last) else { return nil }
            if isWord(last - 1, "operator") {
                start = last - 1
            } else if isKeyword(last) {
                return nil
            }
        }
        if isPunct(start - 1, UInt8(ascii: "~")) { start -= 1 }
        while stream.isPathSeparator(index(start - 1)), isIdentifier(start - 2) { start -= 2 }
        let qualified = start < last && !isWord(start, "operator")
        guard qualified || firstTypeWord < start || isWord(start, "operator") else { return nil }
        let afterOpen = index(groupOpen + 1)
        if stream.isPunct(afterOpen, UInt8(ascii: "*")) || stream.isPunct(afterOpen, UInt8(ascii: "^")) {
            return nil
        }
        let close = groupEnd(from: groupOpen)
        var memberInitializers = false
        for position in close..<tokens.count where isPunct(position, UInt8(ascii: ":")) {
            memberInitializers = true
            break
        }
        var name = ""
        for position in start...last { name += stream.text(index(position)) }
        return FunctionDeclarator(name: name, namePosition: last, hasMemberInitializers: memberInitializers)
    }

    /// Position after the group opened at `open`.
    func groupEnd(from open: Int) -> Int {
        var nest = 0
        var position = open
        while position < tokens.count {
            nest += stream.nesting(index(position))
            position += 1
            if nest <= 0 { break }
        }
        return position
    }

    /// `struct`/`union`/`enum`/`class` followed only by attributes, a tag, and a base clause
    /// before the `{` that ends the tokens.
    func aggregate() -> Aggregate? {
        var keyword = -1
        var nest = 0
        for position in bodyStart..<tokens.count {
            nest = max(0, nest + stream.nesting(index(position)))
            if nest == 0, isAggregateKeyword(position), !isAggregateKeyword(position - 1) { keyword = position }
        }
        guard keyword >= 0 else { return nil }
        let kind = stream.text(index(keyword))
        var position = keyword + 1
        if kind == "enum", isWord(position, "class") || isWord(position, "struct") { position += 1 }
        var candidates: [Int] = []
        var inBases = false
        while position < tokens.count {
            let current = index(position)
            if inBases {
                position = stream.nesting(current) > 0 ? groupEnd(from: position) : position + 1
                continue
            }
            if stream.isPunct(current, UInt8(ascii: "(")) {
                guard isAttributeWord(position - 1) || startsWithDoubleUnderscore(position - 1) else { return nil }
                if candidates.last == position - 1 { candidates.removeLast() }
                position = groupEnd(from: position)
                continue
            }
            if stream.isPunct(current, UInt8(ascii: "[")) {
                position = groupEnd(from: position)
                continue
            }
            if stream.isPunct(current, UInt8(ascii: ":")) {
                inBases = true
            } else if stream.isIdentifier(current) {
                if !isWord(position, "final"), !isAttributeWord(position) { candidates.append(position) }
            } else if !(stream.isPathSeparator(current) || stream.isPunct(current, UInt8(ascii: ","))
                || stream.isPunct(current, UInt8(ascii: "<")) || stream.isPunct(current, UInt8(ascii: ">")))
            {
                return nil
            }
            position += 1
        }
        let tag = candidates.last(where: { !startsWithDoubleUnderscore($0) }) ?? candidates.last
        return Aggregate(kind: kind, keyword: keyword, tag: tag)
    }

    /// The name inside `(*name)` at nesting 0 before any initializer (a function pointer).
    func pointerDeclarator() -> Int? {
        var nest = 0
        for position in bodyStart..<initializerStart {
            let delta = stream.nesting(index(position))
            if nest == 0, delta > 0, isPunct(position, UInt8(ascii: "(")),
                isPunct(position + 1, UInt8(ascii: "*")) || isPunct(position + 1, UInt8(ascii: "^"))
            {
                var name: Int?
                var inner = position + 1
                while inner < tokens.count, !isPunct(inner, UInt8(ascii: ")")), !isPunct(inner, UInt8(ascii: "(")),
                    !isPunct(inner, UInt8(ascii: "["))
                {
                    if isIdentifier(inner), !isKeyword(inner), !isAttributeWord(inner) { name = inner }
                    inner += 1
                }
                return name
            }
            nest = max(0, nest + delta)
        }
        return nil
    }

    /// Whether a non-attribute `name(` appears at nesting 0 before any initializer: a macro
    /// invocation such as `EXPORT_SYMBOL(x);` or `static DEFINE_MUTEX(lock);`.
    var hasInvocation: Bool {
        var nest = 0
        for position in bodyStart..<initializerStart {
            let delta = stream.nesting(index(position))
            if nest == 0, delta > 0, isPunct(position, UInt8(ascii: "(")), isIdentifier(position - 1),
                !isAttributeWord(position - 1), !isKeyword(position - 1)
            {
                return true
            }
            nest = max(0, nest + delta)
        }
        return false
    }

    /// The declared name of a variable or typedef: in the first declarator (before `=`, `[`,
    /// `,`, `:` or a non-attribute `(`), the identifier after the type: the type being builtin
    /// words, a tag or a body, or else the first other identifier (a typedef name). Specifiers,
    /// attributes and annotations such as `__read_mostly` are skipped.
    func declaredName() -> Int? {
        var haveType = false
        var name: Int?
        var position = bodyStart
        while position < initializerStart {
            let current = index(position)
            if stream.isPunct(current, UInt8(ascii: "(")) {
                guard isAttributeWord(position - 1) || startsWithDoubleUnderscore(position - 1) else { break }
                position = groupEnd(from: position)
                continue
            }
            if stream.isPunct(current, UInt8(ascii: "{")) {
                haveType = true
                position = groupEnd(from: position)
                continue
            }
            if stream.isPunct(current, UInt8(ascii: "<")), haveType {
                position = Self.skipAngles(stream, tokens, from: position)
                continue
            }
            if stream.isPunct(current, UInt8(ascii: "[")) || stream.isPunct(current, UInt8(ascii: ","))
                || stream.isPunct(current, UInt8(ascii: ":"))
            {
                break
            }
            position += 1
            guard stream.isIdentifier(current) else { continue }
            let at = position - 1
            if isAggregateKeyword(at) || stream.isAnyWord(current, Self.builtinTypeWords) {
                haveType = true
            } else if isKeyword(at) || isAttributeWord(at) || stream.isAnyWord(current, Self.annotationWords)
                || stream.isPathSeparator(index(position))
                || (isPunct(position, UInt8(ascii: "(")) && startsWithDoubleUnderscore(at))
            {
                continue
            } else if isTag(at) || !haveType {
                haveType = true
            } else if let found = name {
                // `struct s __unknown_annotation name;`
                if startsWithDoubleUnderscore(found), !startsWithDoubleUnderscore(at) { return at }
            } else {
                name = at
            }
        }
        return name
    }

    static let builtinTypeWords = WordSet([
        "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool", "bool", "_Complex",
        "auto",
    ])

    /// Attribute macros without arguments that sit next to declared names (Linux).
    static let annotationWords = WordSet([
        "__read_mostly", "__ro_after_init", "__initdata", "__initconst", "__exitdata", "__refdata", "__meminitdata",
        "__cacheline_aligned", "__cacheline_aligned_in_smp", "____cacheline_aligned", "____cacheline_aligned_in_smp",
        "____cacheline_internodealigned_in_smp", "__maybe_unused", "__always_unused", "__used", "__percpu", "__user",
        "__iomem", "__rcu", "__force", "__packed", "__randomize_layout", "__weak", "__visible", "__latent_entropy",
        "__page_aligned_bss", "__page_aligned_data", "__nosavedata", "__bitwise", "__must_check", "__init", "__exit",
        "__cold", "__noreturn", "__lsm_ro_after_init", "__initdata_or_module", "__tracepoint_string", "notrace",
        "__always_inline", "noinline", "__sched", "__kprobes", "__noinstr_section", "noinstr", "__private",
    ])

    /// `IDENT(args) {` with no return type (`SYSCALL_DEFINE3(open, …) {`): the name is the first
    /// argument when the macro is upper case and the argument a plain identifier, else the macro.
    func macroDefinition() -> (name: String, position: Int)? {
        guard isIdentifier(bodyStart), !isKeyword(bodyStart), isPunct(bodyStart + 1, UInt8(ascii: "(")) else {
            return nil
        }
        let macro = stream.text(index(bodyStart))
        let upper = macro.utf8.allSatisfy { ($0 &- 0x41 < 26) || ByteClass.isDigit($0) || $0 == 0x5F }
        if upper, isIdentifier(bodyStart + 2),
            isPunct(bodyStart + 3, UInt8(ascii: ",")) || isPunct(bodyStart + 3, UInt8(ascii: ")"))
        {
            return (stream.text(index(bodyStart + 2)), bodyStart + 2)
        }
        return (macro, bodyStart)
    }
}
