/// Where one import resolves, and the keys under which a later create or delete of a path
/// could change that (see `Resolver.keys(forChangeOf:)`).
public struct Resolution: Sendable, Hashable {
    /// Workspace files the import names, sorted; empty when unresolved.
    public var targets: [String] = []
    /// Every candidate the resolver looked at, as change keys, whether it existed or not.
    public var keys: [String] = []
}

/// Resolves import specifiers to workspace files the way each language's own tools do
/// (DESIGN §5, issue "code graph" §2). Resolution is a function of the specifier, the importing
/// path, the set of paths and the configuration — never of other files' contents — so the
/// graph can tell exactly which imports a create or delete may change.
public struct Resolver: Sendable {
    public let index: PathIndex
    public let configuration: GraphConfiguration

    /// The directories each wildcard include pattern matches (`arch/*/include`: one per
    /// architecture), found once per resolver instead of once per header looked up.
    private let wildcardDirectories: [String: [String]]

    public init(index: PathIndex, configuration: GraphConfiguration) {
        self.index = index
        self.configuration = configuration
        var matches: [String: [String]] = [:]
        for pattern in configuration.cIncludeDirectories where PathIndex.hasWildcard(pattern) {
            matches[pattern] = index.directories(matching: pattern)
        }
        wildcardDirectories = matches
    }

    /// The change keys of `path`: an import whose `Resolution.keys` shares one with them may
    /// resolve differently once `path` is created or deleted.
    public static func keys(forChangeOf path: String) -> [String] {
        let (directory, name) = PathIndex.split(path)
        var keys = ["f:" + PathIndex.tail(path), "b:" + name, "d:" + PathIndex.tail(directory)]
        let parts = path.split(separator: "/")
        if let sources = parts.firstIndex(of: "Sources"), sources + 2 < parts.count {
            keys.append("s:" + parts[sources + 1])
        }
        return keys
    }

    /// The key of a candidate file path (which may hold `*` segments of an include pattern).
    static func fileKey(_ candidate: String) -> String {
        let tail = PathIndex.tail(candidate)
        if PathIndex.hasWildcard(tail) { return "b:" + PathIndex.split(candidate).1 }
        return "f:" + tail
    }

    static func directoryKey(_ directory: String) -> String { "d:" + PathIndex.tail(directory) }

    public func resolve(_ spec: ImportSpec, importer: String, language: Language) -> Resolution {
        switch (language, spec.kind) {
        case (.c, _), (.cpp, _): return resolveInclude(spec, importer: importer)
        case (.python, _): return resolvePython(spec, importer: importer)
        case (.javascript, _), (.typescript, _): return resolveScript(spec.specifier, importer: importer)
        case (.go, _): return resolveGo(spec.specifier)
        case (.rust, .rustMod): return resolveRustModule(spec.specifier, importer: importer)
        case (.rust, _): return resolveRustUse(spec.specifier, importer: importer)
        case (.swift, _): return resolveSwift(spec.specifier, importer: importer)
        case (.java, _): return resolveJava(spec)
        }
    }

    // MARK: - C and C++

    /// Quoted: relative to the including file first; then (both kinds) the include directories
    /// in order, the first one holding the file winning — every match of a wildcard pattern.
    func resolveInclude(_ spec: ImportSpec, importer: String) -> Resolution {
        resolveInclude(spec, importer: importer, inIncludeDirectories: resolveInIncludeDirectories)
    }

    /// `resolveInclude` with the include-directory part supplied by the caller (the graph
    /// caches it per specifier).
    func resolveInclude(
        _ spec: ImportSpec, importer: String, inIncludeDirectories: (String) -> Resolution
    ) -> Resolution {
        var resolution = Resolution()
        let name = spec.specifier
        guard !name.isEmpty, !name.hasPrefix("/") else { return resolution }
        if spec.kind == .quoted,
            let candidate = PathIndex.normalize(PathIndex.join(PathIndex.directory(of: importer), name))
        {
            resolution.keys.append(Self.fileKey(candidate))
            if index.contains(candidate) { resolution.targets = [candidate] }
        }
        let fromDirectories = inIncludeDirectories(name)
        resolution.keys += fromDirectories.keys
        if resolution.targets.isEmpty { resolution.targets = fromDirectories.targets }
        return resolution
    }

    /// The include-directory part, which does not depend on the includer (cached by the graph).
    public func resolveInIncludeDirectories(_ name: String) -> Resolution {
        var resolution = Resolution()
        for pattern in configuration.cIncludeDirectories {
            resolution.keys.append(Self.fileKey(pattern + "/" + name))
            guard resolution.targets.isEmpty else { continue }
            if let directories = wildcardDirectories[pattern] {
                resolution.targets = directories.compactMap {
                    PathIndex.normalize(PathIndex.join($0, name))
                }.filter(index.contains)
            } else if let candidate = PathIndex.normalize(PathIndex.join(pattern, name)), index.contains(candidate) {
                resolution.targets = [candidate]
            }
        }
        return resolution
    }

    // MARK: - Python

    static let pythonModuleSuffixes = [".py", "/__init__.py", ".pyi"]

    /// Absolute imports search the importer's directory, the root and `src/`; relative ones
    /// climb from the importer's package. `from X import a` also links `X/a` when it is a module.
    func resolvePython(_ spec: ImportSpec, importer: String) -> Resolution {
        var resolution = Resolution()
        let text = spec.specifier
        let dots = text.prefix { $0 == "." }.count
        let rest = String(text.dropFirst(dots)).replacing(".", with: "/")
        var bases: [String] = []
        if dots > 0 {
            var base = PathIndex.directory(of: importer)
            for _ in 1..<dots {
                guard !base.isEmpty else { return resolution }
                base = PathIndex.directory(of: base)
            }
            bases = [base]
        } else {
            bases = [PathIndex.directory(of: importer), "", "src"]
            var seen = Set<String>()
            bases = bases.filter { seen.insert($0).inserted }
        }
        func module(_ path: String) -> String? {
            var found: String?
            for suffix in Self.pythonModuleSuffixes {
                let candidate = path + suffix
                resolution.keys.append(Self.fileKey(candidate))
                if found == nil, index.contains(candidate) { found = candidate }
            }
            return found
        }
        for base in bases {
            let path = rest.isEmpty ? base : PathIndex.join(base, rest)
            var targets: [String] = []
            if rest.isEmpty {
                let initFile = PathIndex.join(base, "__init__.py")
                resolution.keys.append(Self.fileKey(initFile))
                if index.contains(initFile) { targets.append(initFile) }
            } else if let found = module(path) {
                targets.append(found)
            }
            for name in spec.names where name != "*" {
                if let found = module(PathIndex.join(path, name)) { targets.append(found) }
            }
            if resolution.targets.isEmpty, !targets.isEmpty { resolution.targets = Array(Set(targets)).sorted() }
        }
        return resolution
    }

    // MARK: - JavaScript and TypeScript

    static let scriptExtensions = [".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".json"]

    /// Relative specifiers as Node and TypeScript resolve them (exact, extensions, `.js` naming a
    /// `.ts`, `index` files); bare ones through `tsconfig` `paths` and `baseUrl`. Packages
    /// (`react`, `node:fs`) stay unresolved.
    func resolveScript(_ specifier: String, importer: String) -> Resolution {
        var resolution = Resolution()
        var bases: [String] = []
        if specifier.hasPrefix("./") || specifier.hasPrefix("../") || specifier == "." || specifier == ".." {
            if let base = PathIndex.normalize(PathIndex.join(PathIndex.directory(of: importer), specifier)) {
                bases = [base]
            }
        } else if !specifier.hasPrefix("/") {
            let root = configuration.scriptBaseURL ?? ""
            for mapping in configuration.scriptPaths {
                guard let star = Self.match(mapping.pattern, specifier) else { continue }
                for target in mapping.targets {
                    let substituted = target.replacing("*", with: star)
                    if let base = PathIndex.normalize(PathIndex.join(root, substituted)) { bases.append(base) }
                }
            }
            if configuration.scriptBaseURL != nil, let base = PathIndex.normalize(PathIndex.join(root, specifier)) {
                bases.append(base)
            }
        }
        for base in bases {
            var candidates = [base] + Self.scriptExtensions.map { base + $0 }
            for js in [".js", ".jsx", ".mjs", ".cjs"] where base.hasSuffix(js) {
                let stem = String(base.dropLast(js.count))
                candidates += [".ts", ".tsx", ".d.ts", ".mts", ".cts"].map { stem + $0 }
            }
            candidates += Self.scriptExtensions.map { PathIndex.join(base, "index" + $0) }
            for candidate in candidates where !candidate.isEmpty {
                resolution.keys.append(Self.fileKey(candidate))
                if resolution.targets.isEmpty, index.contains(candidate) { resolution.targets = [candidate] }
            }
        }
        return resolution
    }

    /// What `*` stood for when `specifier` matches a `paths` pattern (`""` for an exact match).
    static func match(_ pattern: String, _ specifier: String) -> String? {
        guard let star = pattern.firstIndex(of: "*") else { return pattern == specifier ? "" : nil }
        let prefix = pattern[..<star]
        let suffix = pattern[pattern.index(after: star)...]
        guard specifier.hasPrefix(prefix), specifier.hasSuffix(suffix), specifier.count >= prefix.count + suffix.count
        else { return nil }
        return String(specifier.dropFirst(prefix.count).dropLast(suffix.count))
    }

    // MARK: - Go

    /// An import path inside a module of the workspace (`go.mod`) names that package's
    /// directory: every non-test `.go` file in it.
    func resolveGo(_ path: String) -> Resolution {
        var resolution = Resolution()
        for module in configuration.goModules where path == module.module || path.hasPrefix(module.module + "/") {
            let rest = String(path.dropFirst(module.module.count)).drop { $0 == "/" }
            let directory = PathIndex.join(module.directory, String(rest))
            resolution.keys.append(Self.directoryKey(directory))
            resolution.targets = index.files(in: directory).filter { $0.hasSuffix(".go") && !$0.hasSuffix("_test.go") }
            break
        }
        return resolution
    }

    // MARK: - Rust

    /// The directory holding the child modules of `file`: its own directory for `main.rs`,
    /// `lib.rs` and `mod.rs`, else `dir/stem`.
    static func rustModuleDirectory(_ file: String) -> String {
        let (directory, name) = PathIndex.split(file)
        if name == "main.rs" || name == "lib.rs" || name == "mod.rs" { return directory }
        return PathIndex.join(directory, String(name.dropLast(3)))
    }

    /// The crate root: the last `src` directory above the file, else the workspace root.
    static func rustCrateRoot(_ file: String) -> String {
        let parts = PathIndex.directory(of: file).split(separator: "/")
        guard let src = parts.lastIndex(of: "src") else { return "" }
        return parts[...src].joined(separator: "/")
    }

    func resolveRustModule(_ name: String, importer: String) -> Resolution {
        var resolution = Resolution()
        let base = PathIndex.join(Self.rustModuleDirectory(importer), name)
        for candidate in [base + ".rs", base + "/mod.rs"] {
            resolution.keys.append(Self.fileKey(candidate))
            if resolution.targets.isEmpty, index.contains(candidate) { resolution.targets = [candidate] }
        }
        return resolution
    }

    static let externalRustCrates: Set<Substring> = ["std", "core", "alloc", "proc_macro", "test"]

    /// `crate::`, `super::` and `self::` paths: the longest prefix naming a module file (`a/b.rs`
    /// or `a/b/mod.rs`), else the module the path starts from. A first segment naming no keyword
    /// is tried as a child module of the importer; the standard crates stay unresolved.
    func resolveRustUse(_ path: String, importer: String) -> Resolution {
        var resolution = Resolution()
        var segments = path.split(separator: "::", omittingEmptySubsequences: true).map { Substring($0) }
        guard let first = segments.first, !Self.externalRustCrates.contains(first) else { return resolution }
        var base: String
        var moduleFiles: [String]
        let crateRoot = Self.rustCrateRoot(importer)
        func files(of directory: String) -> [String] {
            directory == crateRoot
                ? [PathIndex.join(directory, "lib.rs"), PathIndex.join(directory, "main.rs")]
                : [directory + ".rs", PathIndex.join(directory, "mod.rs")]
        }
        if first == "crate" {
            base = crateRoot
            segments.removeFirst()
        } else if first == "super" || first == "self" {
            base = Self.rustModuleDirectory(importer)
            while let next = segments.first, next == "super" || next == "self" {
                if next == "super" {
                    guard !base.isEmpty, base != crateRoot else { return resolution }
                    base = PathIndex.directory(of: base)
                }
                segments.removeFirst()
            }
        } else {
            base = Self.rustModuleDirectory(importer)
        }
        moduleFiles = first == "self" && base == Self.rustModuleDirectory(importer) ? [importer] : files(of: base)
        if let last = segments.last, last == "*" || last == "self" { segments.removeLast() }
        for count in stride(from: segments.count, through: 1, by: -1) {
            let path = PathIndex.join(base, segments[..<count].joined(separator: "/"))
            for candidate in [path + ".rs", PathIndex.join(path, "mod.rs")] {
                resolution.keys.append(Self.fileKey(candidate))
                if resolution.targets.isEmpty, index.contains(candidate) { resolution.targets = [candidate] }
            }
        }
        if resolution.targets.isEmpty, first == "crate" || first == "super" || first == "self" {
            for candidate in moduleFiles where candidate != importer {
                resolution.keys.append(Self.fileKey(candidate))
                if resolution.targets.isEmpty, index.contains(candidate) { resolution.targets = [candidate] }
            }
        }
        return resolution
    }

    // MARK: - Swift

    /// A module of a Swift package: every `.swift` file under `Sources/<Module>/` (any package
    /// of the workspace).
    func resolveSwift(_ module: String, importer: String) -> Resolution {
        var resolution = Resolution(keys: ["s:" + module])
        let roots = index.directories(endingIn: "Sources/" + module)
        resolution.targets = roots.flatMap { index.files(under: $0) }.filter {
            $0.hasSuffix(".swift") && $0 != importer
        }
        .sorted()
        return resolution
    }

    // MARK: - Java

    /// `a.b.C` names `…/a/b/C.java` under any source root (a nested or static member names its
    /// outer class's file); `a.b.*` every `.java` file of the package directories `…/a/b`.
    func resolveJava(_ spec: ImportSpec) -> Resolution {
        var resolution = Resolution()
        var parts = spec.specifier.split(separator: ".").map(String.init)
        if parts.last == "*" {
            parts.removeLast()
            if !spec.names.contains("static") {
                let directory = parts.joined(separator: "/")
                resolution.keys.append(Self.directoryKey(directory))
                resolution.targets = index.directories(endingIn: directory).flatMap { index.files(in: $0) }
                    .filter { $0.hasSuffix(".java") }.sorted()
                return resolution
            }
        }
        for count in stride(from: parts.count, through: 1, by: -1) {
            let suffix = parts[..<count].joined(separator: "/") + ".java"
            resolution.keys.append(Self.fileKey(suffix))
            if resolution.targets.isEmpty {
                let found = index.javaFiles(endingIn: suffix)
                if !found.isEmpty { resolution.targets = found }
            }
        }
        return resolution
    }
}
