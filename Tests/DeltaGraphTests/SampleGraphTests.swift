import DeltaGraph
import Foundation
import DeltaTestSupport
import Testing

/// The multi-language sample kept in the repository (`Tests/Fixtures/graph-sample`), extracted
/// and resolved end to end: every language's imports land on the files its own tools would pick,
/// and nothing written in a comment or a string becomes an edge.
@Suite struct SampleGraphTests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }  // Tests/DeltaGraphTests/this file → Tests
        return url.appendingPathComponent("Fixtures/graph-sample").path
    }()

    static func updates() throws -> [FileUpdate] {
        var updates: [FileUpdate] = []
        let walker = FileManager.default.enumerator(atPath: root)
        while let path = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory),
                !isDirectory.boolValue
            else { continue }
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + path)))
            updates.append(
                FileUpdate(
                    path: path, exists: true, facts: Extractor.extract(path: path, contents: bytes),
                    configuration: GraphConfiguration.isConfigurationFile(path) ? bytes : nil))
        }
        return updates.sorted { $0.path < $1.path }
    }

    @Test func everyLanguageResolvesAsItsOwnToolsDo() throws {
        let updates = try Self.updates()
        #expect(updates.count == 22, "the sample at \(Self.root)")
        let graph = CodeGraph(building: updates)
        func dependencies(_ path: String) -> [String] { graph.dependencies(of: path).map(\.path) }
        func unresolved(_ path: String) -> [String] { graph.unresolvedImports(of: path).map(\.specifier) }

        #expect(dependencies("c/src/main.c") == ["c/include/app/util.h", "c/src/local.h"])
        #expect(unresolved("c/src/main.c").isEmpty)  // the #if 0 include, the string and the comment do not count
        #expect(dependencies("py/app.py") == ["py/pkg/__init__.py", "py/pkg/core.py"])
        #expect(unresolved("py/app.py") == ["os"])
        #expect(dependencies("py/pkg/core.py") == ["py/pkg/__init__.py", "py/pkg/helpers.py"])
        #expect(dependencies("ts/src/index.ts") == ["ts/src/lib/index.ts", "ts/src/lib/x.ts"])
        #expect(unresolved("ts/src/index.ts") == ["react"])
        #expect(dependencies("ts/src/lib/index.ts") == ["ts/src/lib/x.ts"])  // a re-export is an edge
        #expect(dependencies("go/cmd/main.go") == ["go/util/util.go"])
        #expect(unresolved("go/cmd/main.go") == ["fmt"])
        #expect(dependencies("rust/src/lib.rs") == ["rust/src/net.rs", "rust/src/net/tcp.rs"])
        #expect(dependencies("rust/src/net.rs") == ["rust/src/net/tcp.rs"])
        #expect(dependencies("rust/src/net/tcp.rs") == ["rust/src/lib.rs"])  // a cycle through super::super
        #expect(dependencies("swift/Sources/App/main.swift") == ["swift/Sources/Core/Core.swift"])
        #expect(unresolved("swift/Sources/App/main.swift") == ["Foundation"])
        #expect(
            dependencies("java/src/main/java/com/example/App.java") == [
                "java/src/main/java/com/example/util/Strings.java"
            ])
        #expect(
            graph.dependents(of: "c/include/app/util.h", depth: 5).map(\.path) == ["c/src/main.c"])
        #expect(graph.node("c/include/app/util.h")?.language == .c)
    }

    /// Adding the sample's files one at a time, in any order, gives the graph built at once.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func anyOrderOfCreatesGivesTheSameGraph(seed: UInt64) throws {
        let updates = try Self.updates()
        var rng = SplitMix64(seed: seed)
        var graph = CodeGraph()
        for update in updates.shuffled(using: &rng) { graph.apply([update]) }
        #expect(graph.canonical() == CodeGraph(building: updates).canonical(), "seed \(seed)")
    }
}
