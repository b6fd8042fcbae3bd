import DeltaGraph
import DeltaTestSupport
import Testing

/// The incremental graph equals the graph built from scratch, whatever the order of creates,
/// edits, deletes, moves and configuration changes; seeded, the seed printed on failure.
@Suite struct GraphInvariantTests {

    static let directories = [
        "", "src", "src/a", "src/a/b", "include", "include/linux", "include/uapi/linux", "arch/x86/include/asm",
        "arch/arm/include/asm", "lib", "pkg", "pkg/sub", "web", "web/lib", "web/lib/util", "Sources/Mod",
        "Sources/Mod/Inner", "Sources/App", "java/com/x", "src/main/java/com/x", "svc", "svc/util", "crate/src",
        "crate/src/net",
    ]
    static let names = ["a", "b", "util", "index", "mod", "lib", "main", "list", "types", "__init__"]
    static let extensions = [
        ".c", ".h", ".h", ".py", ".ts", ".js", ".go", ".rs", ".java", ".swift", ".inc", ".txt",
    ]

    static func language(of path: String) -> Language? {
        switch path.split(separator: ".").last.map(String.init) {
        case "c": .c
        case "h": .c
        case "py": .python
        case "ts": .typescript
        case "js": .javascript
        case "go": .go
        case "rs": .rust
        case "java": .java
        case "swift": .swift
        default: nil
        }
    }

    static func randomImport(_ language: Language, rng: inout SplitMix64) -> ImportSpec {
        func pick(_ list: [String]) -> String { list[Int.random(in: 0..<list.count, using: &rng)] }
        switch language {
        case .c, .cpp:
            let quoted = Bool.random(using: &rng)
            let spec = pick([
                "a.h", "util.h", "list.h", "linux/list.h", "linux/types.h", "asm/types.h", "../include/linux/a.h",
                "b/util.h", "uapi/linux/list.h", "types.inc", "lib.inc",
            ])
            return ImportSpec(specifier: spec, kind: quoted ? .quoted : .angle, line: 1)
        case .python:
            let spec = pick(["pkg", "pkg.sub", "pkg.sub.a", ".a", "..", ".util", "..sub", "lib.util", "util", "os"])
            let names = Bool.random(using: &rng) ? [pick(["a", "b", "util", "*"])] : []
            return ImportSpec(specifier: spec, kind: .module, line: 1, names: names)
        case .javascript, .typescript:
            let spec = pick([
                "./a", "./util", "../lib", "../lib/util", "./util/index.js", "@lib/util", "util", "react", ".",
            ])
            return ImportSpec(specifier: spec, kind: .module, line: 1)
        case .go:
            let spec = pick([
                "example.com/m/svc/util", "example.com/m/svc", "example.com/m", "fmt", "example.com/n/lib",
            ])
            return ImportSpec(specifier: spec, kind: .module, line: 1)
        case .rust:
            if Bool.random(using: &rng) {
                return ImportSpec(specifier: pick(["net", "util", "a", "mod"]), kind: .rustMod, line: 1)
            }
            let spec = pick(["crate::net", "crate::net::util::X", "super::a", "self::util", "std::io", "crate::lib"])
            return ImportSpec(specifier: spec, kind: .rustUse, line: 1)
        case .java:
            let spec = pick(["com.x.a", "com.x.util", "com.x.*", "com.x.a.Inner", "java.util.List"])
            return ImportSpec(
                specifier: spec, kind: .module, line: 1, names: Bool.random(using: &rng) ? ["static"] : [])
        case .swift:
            return ImportSpec(specifier: pick(["Mod", "App", "Foundation"]), kind: .module, line: 1)
        }
    }

    static func randomUpdate(path: String, rng: inout SplitMix64) -> FileUpdate {
        if GraphConfiguration.isConfigurationFile(path) {
            return FileUpdate(
                path: path, exists: true,
                configuration: Array(
                    configurations(path)[Int.random(in: 0..<configurations(path).count, using: &rng)].utf8))
        }
        guard let language = language(of: path) else { return FileUpdate(path: path, exists: true) }
        let imports = (0..<Int.random(in: 0...4, using: &rng)).map { _ in randomImport(language, rng: &rng) }
        // The graph keeps the extractors' 16 hex digits as a number and anything else as text:
        // both kinds, and a change from one to the other, must compare as the strings do.
        let fingerprints = ["0", "1", "00000000000000a1", "ffffffffffffffff", "00000000000000A1"]
        let facts = FileFacts(
            language: language, imports: imports, symbols: [],
            fingerprint: fingerprints[Int.random(in: 0..<fingerprints.count, using: &rng)])
        return FileUpdate(path: path, exists: true, facts: facts)
    }

    static func configurations(_ path: String) -> [String] {
        switch path {
        case GraphConfiguration.fileName:
            return [#"{"c_include_dirs": ["include", "arch/*/include"]}"#, #"{"c_include_dirs": ["src"]}"#, "{ broken"]
        case "tsconfig.json":
            return [
                #"{"compilerOptions": {"baseUrl": "web", /* c */ "paths": {"@lib/*": ["lib/*"],}}}"#,
                #"{"compilerOptions": {}}"#,
            ]
        default:
            return ["module example.com/m\n", "module example.com/n\n"]
        }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func incrementalGraphEqualsGraphBuiltFromScratch(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var tree: [String: FileUpdate] = [:]
        var graph = CodeGraph()
        var allPaths = Set<String>()
        for directory in Self.directories {
            for name in Self.names {
                for ext in Self.extensions {
                    allPaths.insert(directory.isEmpty ? name + ext : directory + "/" + name + ext)
                }
            }
        }
        allPaths.formUnion([GraphConfiguration.fileName, "tsconfig.json", "go.mod", "svc/go.mod"])
        let universe = allPaths.sorted()
        for step in 1...500 {
            var batch: [FileUpdate] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let roll = Int.random(in: 0..<100, using: &rng)
                let existing = tree.keys.sorted()
                if roll < 45 || existing.isEmpty {
                    let path = universe.randomElement(using: &rng)!
                    let update = Self.randomUpdate(path: path, rng: &rng)
                    tree[path] = update
                    batch.append(update)
                } else if roll < 70 {
                    let path = existing.randomElement(using: &rng)!
                    tree[path] = nil
                    batch.append(FileUpdate(path: path, exists: false))
                } else if roll < 90 {
                    // A move: the same facts under another name.
                    let from = existing.randomElement(using: &rng)!
                    let to = universe.filter { Self.language(of: $0) == Self.language(of: from) }.randomElement(
                        using: &rng)!
                    guard from != to, let moved = tree[from] else { continue }
                    tree[from] = nil
                    batch.append(FileUpdate(path: from, exists: false))
                    var update = moved
                    update.path = to
                    tree[to] = update
                    batch.append(update)
                } else {
                    // A directory moved away (every file below it deleted) or restored.
                    let directory = Self.directories.randomElement(using: &rng)!
                    for path in existing where PathIndex.directory(of: path) == directory {
                        tree[path] = nil
                        batch.append(FileUpdate(path: path, exists: false))
                    }
                }
            }
            let invalidation = graph.apply(batch)
            #expect(
                Set(invalidation.invalidated).isDisjoint(
                    with: batch.filter { !$0.exists && tree[$0.path] == nil }.map(\.path)),
                "seed \(seed) step \(step): a deleted file was listed as invalidated")
            if step % 25 == 0 || step == 500 {
                let scratch = CodeGraph(building: Array(tree.values))
                let incremental = graph.canonical()
                let expected = scratch.canonical()
                // A build with its tables reserved up front (as a rebuild does) is the same graph.
                var reserved = CodeGraph()
                reserved.reserveCapacity(files: tree.count)
                reserved.apply(Array(tree.values))
                #expect(reserved.canonical() == expected, "seed \(seed) step \(step): a reserved build differs")
                if incremental != expected {
                    let differing = Set(incremental.keys).union(expected.keys).filter {
                        incremental[$0] != expected[$0]
                    }
                    let first = differing.sorted().first ?? ""
                    Issue.record(
                        """
                        seed \(seed) step \(step): incremental graph differs from scratch on \(differing.count) files; \
                        first \(first): incremental \(String(describing: incremental[first])) \
                        scratch \(String(describing: expected[first]))
                        """)
                    return
                }
            }
        }
    }
}
