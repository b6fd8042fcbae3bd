import DeltaGraph
import Testing

/// Early cutoff: a body-only edit invalidates one file; an interface change invalidates exactly
/// its transitive dependents; creates, deletes and moves re-resolve the importers they affect.
@Suite struct GraphPrecisionTests {
    static func c(_ path: String, _ includes: [String], fingerprint: String = "f0") -> FileUpdate {
        let imports = includes.enumerated().map { index, spec in
            spec.hasPrefix("<")
                ? ImportSpec(specifier: String(spec.dropFirst().dropLast()), kind: .angle, line: index + 1)
                : ImportSpec(specifier: spec, kind: .quoted, line: index + 1)
        }
        return FileUpdate(
            path: path, exists: true,
            facts: FileFacts(language: .c, imports: imports, symbols: [], fingerprint: fingerprint))
    }

    /// A node's imports are kept packed (specifier ids, 32-bit lines, names on the side): they
    /// come back exactly as extracted, shared specifiers, long ones and Python names included.
    @Test func aNodeGivesBackItsImportsExactly() {
        let imports = [
            ImportSpec(specifier: "pkg.shared", kind: .module, line: 3, names: ["x", "y"]),
            ImportSpec(specifier: "pkg.a.module.name.longer.than.fifteen", kind: .module, line: 70_000),
            ImportSpec(specifier: "pkg.shared", kind: .module, line: 9, names: ["*"]),
            ImportSpec(specifier: "os", kind: .module, line: 10),
        ]
        let other = [ImportSpec(specifier: "pkg.shared", kind: .module, line: 1)]
        func python(_ path: String, _ imports: [ImportSpec]) -> FileUpdate {
            FileUpdate(
                path: path, exists: true,
                facts: FileFacts(language: .python, imports: imports, symbols: [], fingerprint: "f"))
        }
        var graph = CodeGraph(building: [python("m.py", imports), python("n.py", other)])
        #expect(graph.node("m.py")?.imports == imports)
        #expect(graph.node("n.py")?.imports == other)
        #expect(graph.unresolvedImports(of: "m.py") == imports)  // none is a workspace file
        // Re-extracted with fewer imports: the old names do not linger.
        _ = graph.apply([python("m.py", [imports[3], imports[0]])])
        #expect(graph.node("m.py")?.imports == [imports[3], imports[0]])
    }

    /// include/linux/types.h ← include/linux/list.h ← kernel/a.c, kernel/b.c; drivers/x.c includes
    /// only types.h; kernel/leaf.c includes nothing.
    static func tree() -> CodeGraph {
        CodeGraph(building: [
            c("include/linux/types.h", []),
            c("include/linux/list.h", ["<linux/types.h>"]),
            c("kernel/a.c", ["<linux/list.h>", "local.h"]),
            c("kernel/b.c", ["<linux/list.h>"]),
            c("kernel/local.h", []),
            c("drivers/x.c", ["<linux/types.h>"]),
            c("kernel/leaf.c", []),
        ])
    }

    @Test func theTreeResolvesAsTheCompilerWould() {
        let graph = Self.tree()
        #expect(graph.dependencies(of: "kernel/a.c").map(\.path) == ["include/linux/list.h", "kernel/local.h"])
        #expect(
            graph.dependents(of: "include/linux/types.h", depth: 10).map(\.path) == [
                "drivers/x.c", "include/linux/list.h", "kernel/a.c", "kernel/b.c",
            ])
        #expect(graph.dependents(of: "include/linux/types.h", depth: 10).map(\.depth) == [1, 1, 2, 2])
    }

    @Test func aBodyOnlyEditInvalidatesOnlyThatFile() {
        var graph = Self.tree()
        let result = graph.apply([Self.c("kernel/leaf.c", [], fingerprint: "f0")])
        #expect(result.invalidated == ["kernel/leaf.c"])
        #expect(result.interfaceChanged.isEmpty)
        // A header whose tokens did not change (a comment edit) cuts off just the same.
        let header = graph.apply([Self.c("include/linux/types.h", [], fingerprint: "f0")])
        #expect(header.invalidated == ["include/linux/types.h"])
    }

    @Test func anInterfaceChangeInvalidatesExactlyTheTransitiveDependents() {
        var graph = Self.tree()
        let result = graph.apply([Self.c("include/linux/list.h", ["<linux/types.h>"], fingerprint: "f1")])
        #expect(result.interfaceChanged == ["include/linux/list.h"])
        #expect(result.invalidated == ["include/linux/list.h", "kernel/a.c", "kernel/b.c"])
        let deep = graph.apply([Self.c("include/linux/types.h", [], fingerprint: "f2")])
        #expect(
            deep.invalidated == [
                "drivers/x.c", "include/linux/list.h", "include/linux/types.h", "kernel/a.c", "kernel/b.c",
            ])
    }

    @Test func aDeleteListsTheFileAsChangedAndInvalidatesItsDependents() {
        var graph = Self.tree()
        let result = graph.apply([FileUpdate(path: "kernel/local.h", exists: false)])
        #expect(result.changed == ["kernel/local.h"])
        #expect(result.invalidated == ["kernel/a.c"])
        #expect(graph.unresolvedImports(of: "kernel/a.c").map(\.specifier) == ["local.h"])
        // Created again: the import that waited for it resolves, and its importer is invalidated.
        let back = graph.apply([Self.c("kernel/local.h", [])])
        #expect(back.invalidated == ["kernel/a.c", "kernel/local.h"])
        #expect(graph.unresolvedImports(of: "kernel/a.c").isEmpty)
    }

    @Test func aQuotedIncludeCreatedNextToTheIncluderShadowsTheIncludeDirectory() {
        var graph = CodeGraph(building: [
            Self.c("include/util.h", []), Self.c("drivers/net/x.c", ["util.h"]),
            Self.c("drivers/net/y.c", ["<util.h>"]),
        ])
        #expect(graph.dependencies(of: "drivers/net/x.c").map(\.path) == ["include/util.h"])
        let result = graph.apply([Self.c("drivers/net/util.h", [])])
        #expect(graph.dependencies(of: "drivers/net/x.c").map(\.path) == ["drivers/net/util.h"])
        // The angle include does not look beside the includer.
        #expect(graph.dependencies(of: "drivers/net/y.c").map(\.path) == ["include/util.h"])
        #expect(result.reresolved == ["drivers/net/x.c"])
        #expect(result.invalidated == ["drivers/net/util.h", "drivers/net/x.c"])
    }

    @Test func aMoveReResolvesTheImportersOfBothNames() {
        var graph = Self.tree()
        let result = graph.apply([
            FileUpdate(path: "include/linux/list.h", exists: false),
            Self.c("include/linux/klist.h", ["<linux/types.h>"]),
        ])
        #expect(result.changed == ["include/linux/klist.h", "include/linux/list.h"])
        #expect(result.invalidated == ["include/linux/klist.h", "kernel/a.c", "kernel/b.c"])
        #expect(graph.dependents(of: "include/linux/klist.h").isEmpty)
        #expect(graph.unresolvedImports(of: "kernel/b.c").map(\.specifier) == ["linux/list.h"])
    }

    @Test func aHeaderIncludedUnderTwoSpellingsIsOneNode() {
        let graph = CodeGraph(building: [
            Self.c("include/linux/types.h", []), Self.c("include/linux/a.h", ["types.h"]),
            Self.c("lib/b.c", ["<linux/types.h>", "../include/linux/./types.h"]),
        ])
        #expect(graph.dependents(of: "include/linux/types.h").map(\.path) == ["include/linux/a.h", "lib/b.c"])
        #expect(graph.dependencies(of: "lib/b.c").map(\.path) == ["include/linux/types.h"])
    }

    @Test func circularIncludesTerminate() {
        var graph = CodeGraph(building: [Self.c("a.h", ["b.h"]), Self.c("b.h", ["a.h"]), Self.c("main.c", ["a.h"])])
        #expect(graph.dependencies(of: "main.c", depth: 100).map(\.path) == ["a.h", "b.h"])
        let result = graph.apply([Self.c("b.h", ["a.h"], fingerprint: "f9")])
        #expect(result.invalidated == ["a.h", "b.h", "main.c"])
    }

    @Test func wildcardIncludeDirectoriesLinkEveryArchitecture() {
        let graph = CodeGraph(building: [
            Self.c("arch/x86/include/asm/io.h", []), Self.c("arch/arm/include/asm/io.h", []),
            Self.c("drivers/d.c", ["<asm/io.h>"]),
        ])
        #expect(
            graph.dependencies(of: "drivers/d.c").map(\.path) == [
                "arch/arm/include/asm/io.h", "arch/x86/include/asm/io.h",
            ])
    }

    @Test func theConfigurationFileChangesTheIncludeDirectories() {
        var graph = CodeGraph(building: [Self.c("src/inc/u.h", []), Self.c("app/m.c", ["<u.h>"])])
        #expect(graph.unresolvedImports(of: "app/m.c").map(\.specifier) == ["u.h"])
        let result = graph.apply([
            FileUpdate(
                path: GraphConfiguration.fileName, exists: true,
                configuration: Array(#"{"c_include_dirs": ["src/inc"]}"#.utf8))
        ])
        #expect(graph.dependencies(of: "app/m.c").map(\.path) == ["src/inc/u.h"])
        #expect(result.invalidated == ["app/m.c"])
    }
}
