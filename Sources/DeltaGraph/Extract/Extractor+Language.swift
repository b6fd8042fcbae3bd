extension Extractor {
    /// The language of a file by its extension; for a file without a known extension, by its
    /// `#!` line (`python…`/`pypy…`, `node`/`nodejs`/`bun`, `deno`/`ts-node`/`tsx`, `swift`,
    /// `rust-script`; through `env` with its options). nil: not a source file the graph
    /// understands (shell scripts included).
    ///
    /// C: `.c .h`; C++: `.cc .cpp .cxx .c++ .C .hh .hpp .hxx .h++ .ipp`; Python `.py .pyi`;
    /// JavaScript `.js .mjs .cjs .jsx`; TypeScript `.ts .tsx .mts .cts` (so `.d.ts`); Go `.go`;
    /// Rust `.rs`; Swift `.swift`; Java `.java`.
    public static func language(path: String, contents: [UInt8]) -> Language? {
        if let language = languageByExtension(path) { return language }
        if knownExtension(path) { return nil }
        return languageByShebang(contents)
    }

    /// Whether a path is a C/C++ header, i.e. a file meant to be included textually rather than
    /// compiled on its own: `.h .hh .hpp .hxx .h++ .ipp .inl .tcc .tpp .inc` (lowercase, and
    /// `.H`). `.inc`, `.inl`, `.tcc` and `.tpp` files are headers that `language(path:contents:)`
    /// does not extract; an include naming them still resolves.
    public static func isHeader(_ path: String) -> Bool {
        switch pathExtension(path) {
        case "h", "hh", "hpp", "hxx", "h++", "ipp", "inl", "tcc", "tpp", "inc", "H": return true
        default: return false
        }
    }

    static func languageByExtension(_ path: String) -> Language? {
        switch pathExtension(path) {
        case "c", "h": return .c
        case "cc", "cpp", "cxx", "c++", "C", "hh", "hpp", "hxx", "h++", "ipp", "H": return .cpp
        case "py", "pyi": return .python
        case "js", "mjs", "cjs", "jsx": return .javascript
        case "ts", "tsx", "mts", "cts": return .typescript
        case "go": return .go
        case "rs": return .rust
        case "swift": return .swift
        case "java": return .java
        default: return nil
        }
    }

    /// Extensions that say what a file is, so a `#!` line does not override them.
    private static func knownExtension(_ path: String) -> Bool {
        switch pathExtension(path) {
        case "", "in", "txt": return false
        default: return true
        }
    }

    /// The text after the last `.` of the last path component ("" when there is none or the
    /// name starts with the only dot).
    static func pathExtension(_ path: String) -> Substring {
        let utf8 = path.utf8
        let nameStart = utf8.lastIndex(of: UInt8(ascii: "/")).map { utf8.index(after: $0) } ?? utf8.startIndex
        guard let dot = utf8[nameStart...].lastIndex(of: UInt8(ascii: ".")), dot != nameStart else { return "" }
        return path[path.index(after: dot)...]
    }

    /// The language a `#!` first line names.
    static func languageByShebang(_ contents: [UInt8]) -> Language? {
        guard contents.count > 2, contents[0] == UInt8(ascii: "#"), contents[1] == UInt8(ascii: "!") else { return nil }
        let lineEnd = contents[2...].firstIndex(of: 0x0A) ?? contents.count
        let words = contents[2..<min(lineEnd, 2 + 256)].split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
        )
        var index = 0
        while index < words.count {
            let name = programName(words[index])
            index += 1
            if name == "env" {
                // `env -S node --flag`, `env NODE_OPTIONS=x node`: skip options and assignments.
                while index < words.count, words[index].first == UInt8(ascii: "-") || words[index].contains(0x3D) {
                    index += 1
                }
                continue
            }
            return interpreterLanguage(name)
        }
        return nil
    }

    private static func programName(_ word: ArraySlice<UInt8>) -> String {
        let start = word.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? word.startIndex
        return String(decoding: word[start...], as: UTF8.self)
    }

    private static func interpreterLanguage(_ name: String) -> Language? {
        if name.hasPrefix("python") || name.hasPrefix("pypy") { return .python }
        switch name {
        case "node", "nodejs", "bun", "qjs": return .javascript
        case "deno", "ts-node", "tsx": return .typescript
        case "swift": return .swift
        case "rust-script": return .rust
        default: return nil
        }
    }
}
