import DeltaGraph
import Testing

/// The path helpers every resolver goes through.
@Suite struct PathIndexTests {
    @Test func normalizeResolvesDotSegmentsAndDoubledSlashes() {
        let cases: [(String, String?)] = [
            ("include/linux/list.h", "include/linux/list.h"),
            ("drivers/net/../base/core.h", "drivers/base/core.h"),
            ("a/./b/.//c", "a/b/c"),
            ("a//b", "a/b"),
            ("/abs/path.h", "abs/path.h"),
            ("a/b/.", "a/b"),
            ("a/b/..", "a"),
            ("a/..", ""),
            (".", ""),
            ("..", nil),
            ("../x.h", nil),
            ("a/../../x.h", nil),
            ("./x.h", "x.h"),
            // Dots inside a name are not segments; a trailing slash alone is left as it is.
            ("lib/x.h.", "lib/x.h."),
            ("lib/..h", "lib/..h"),
            ("lib./x.h", "lib./x.h"),
            ("a/b/", "a/b/"),
            ("", ""),
            // Bytes, not characters: a name may start with a combining mark.
            ("é/../\u{301}x.h", "\u{301}x.h"),
            ("日本/./語.h", "日本/語.h"),
        ]
        for (path, expected) in cases {
            #expect(PathIndex.normalize(path) == expected, "normalize(\(path.debugDescription))")
        }
    }

    @Test func aQuotedIncludeThroughParentDirectoriesResolves() {
        let index = PathIndex(["drivers/base/core.h", "drivers/net/eth.c", "include/linux/list.h"])
        let resolver = Resolver(index: index, configuration: GraphConfiguration())
        let up = ImportSpec(specifier: "../base/core.h", kind: .quoted, line: 1)
        #expect(resolver.resolve(up, importer: "drivers/net/eth.c", language: .c).targets == ["drivers/base/core.h"])
        let outside = ImportSpec(specifier: "../../../x.h", kind: .quoted, line: 1)
        #expect(resolver.resolve(outside, importer: "drivers/net/eth.c", language: .c).targets.isEmpty)
    }
}
