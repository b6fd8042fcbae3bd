import Foundation
import Testing

@testable import DeltaClient

/// Each feature of the `.gitignore` syntax, checked through `isIgnored` on a real directory of
/// rule files. The differential test against git covers the combinations.
struct IgnoreRulesTests {
    /// Swift Testing makes a new suite value per test, so every test gets its own directory.
    let directory: ScanTestDirectory

    init() throws {
        directory = try ScanTestDirectory()
    }

    /// Writes `files` (rule files mostly) into the workspace and returns rules for it.
    private func rules(_ files: [String: String], defaults: Bool = false) throws -> IgnoreRules {
        for (path, contents) in files { try directory.write(path, contents) }
        return IgnoreRules(root: directory.path, useDefaultExcludes: defaults)
    }

    @Test func blankLinesAndCommentsAreNotPatterns() throws {
        let rules = try rules([".gitignore": "# notes\n\n   \n*.log\n"])
        #expect(rules.isIgnored("a.log", isDirectory: false))
        #expect(!rules.isIgnored("# notes", isDirectory: false))
        #expect(!rules.isIgnored("notes", isDirectory: false))
        #expect(!rules.isIgnored("   ", isDirectory: false))
    }

    @Test func escapedHashAndBangAreLiterals() throws {
        let rules = try rules([".gitignore": "\\#notes\n\\!important\n"])
        #expect(rules.isIgnored("#notes", isDirectory: false))
        #expect(rules.isIgnored("sub/!important", isDirectory: false))
        #expect(!rules.isIgnored("important", isDirectory: false))
        #expect(!rules.isIgnored("notes", isDirectory: false))
    }

    @Test func trailingSpacesAreDroppedUnlessEscaped() throws {
        let rules = try rules([".gitignore": "plain   \nkept\\ \nboth\\  \n"])
        #expect(rules.isIgnored("plain", isDirectory: false))
        #expect(!rules.isIgnored("plain ", isDirectory: false))
        #expect(rules.isIgnored("kept ", isDirectory: false))
        #expect(!rules.isIgnored("kept", isDirectory: false))
        #expect(rules.isIgnored("both ", isDirectory: false))
        #expect(!rules.isIgnored("both  ", isDirectory: false))
    }

    @Test func crlfLineEndingsAndByteOrderMark() throws {
        let rules = try rules([".gitignore": "\u{FEFF}*.log\r\nbuild\r\n"])
        #expect(rules.isIgnored("x.log", isDirectory: false))
        #expect(rules.isIgnored("build", isDirectory: true))
    }

    @Test func negationReincludesAndLastMatchWins() throws {
        let rules = try rules([
            ".gitignore": "*.log\n!important.log\n",
            "sub/.gitignore": "!*.tmp\n*.tmp\n",
        ])
        #expect(rules.isIgnored("debug.log", isDirectory: false))
        #expect(!rules.isIgnored("important.log", isDirectory: false))
        #expect(!rules.isIgnored("deep/er/important.log", isDirectory: false))
        #expect(rules.isIgnored("sub/x.tmp", isDirectory: false))
    }

    @Test func slashAtStartOrMiddleAnchorsToTheRuleFileDirectory() throws {
        let rules = try rules([
            ".gitignore": "/root.txt\ndoc/frotz\nanywhere\n",
            "sub/.gitignore": "/local\nx/y\n",
        ])
        #expect(rules.isIgnored("root.txt", isDirectory: false))
        #expect(!rules.isIgnored("sub/root.txt", isDirectory: false))
        #expect(rules.isIgnored("doc/frotz", isDirectory: false))
        #expect(!rules.isIgnored("a/doc/frotz", isDirectory: false))
        #expect(rules.isIgnored("a/b/c/anywhere", isDirectory: false))
        #expect(rules.isIgnored("sub/local", isDirectory: false))
        #expect(!rules.isIgnored("sub/deeper/local", isDirectory: false))
        #expect(!rules.isIgnored("local", isDirectory: false))
        #expect(rules.isIgnored("sub/x/y", isDirectory: false))
        #expect(!rules.isIgnored("x/y", isDirectory: false))
    }

    @Test func trailingSlashMatchesDirectoriesOnly() throws {
        let rules = try rules([".gitignore": "build/\nout/gen/\n"])
        #expect(rules.isIgnored("build", isDirectory: true))
        #expect(rules.isIgnored("a/b/build", isDirectory: true))
        #expect(!rules.isIgnored("build", isDirectory: false))
        #expect(rules.isIgnored("build/file.c", isDirectory: false))
        #expect(rules.isIgnored("out/gen", isDirectory: true))
        #expect(!rules.isIgnored("out/gen", isDirectory: false))
    }

    @Test func wildcardsNeverMatchSlash() throws {
        let rules = try rules([".gitignore": "src/*.c\nfile?.txt\nx/a?c\ny/a[!b]c\n"])
        #expect(rules.isIgnored("src/main.c", isDirectory: false))
        #expect(!rules.isIgnored("src/sub/main.c", isDirectory: false))
        #expect(rules.isIgnored("deep/file1.txt", isDirectory: false))
        #expect(!rules.isIgnored("file10.txt", isDirectory: false))
        #expect(rules.isIgnored("x/abc", isDirectory: false))
        #expect(!rules.isIgnored("x/a/c", isDirectory: false))
        #expect(rules.isIgnored("y/a-c", isDirectory: false))
        #expect(!rules.isIgnored("y/a/c", isDirectory: false))
    }

    @Test func bracketClasses() throws {
        let rules = try rules([".gitignore": "[abc].one\n[a-c]x.two\n[!a]y.three\n[^b]z.four\n[[:digit:]]*.five\n[]]\n"]
        )
        #expect(rules.isIgnored("b.one", isDirectory: false))
        #expect(!rules.isIgnored("d.one", isDirectory: false))
        #expect(rules.isIgnored("cx.two", isDirectory: false))
        #expect(!rules.isIgnored("dx.two", isDirectory: false))
        #expect(rules.isIgnored("by.three", isDirectory: false))
        #expect(!rules.isIgnored("ay.three", isDirectory: false))
        #expect(rules.isIgnored("az.four", isDirectory: false))
        #expect(!rules.isIgnored("bz.four", isDirectory: false))
        #expect(rules.isIgnored("7up.five", isDirectory: false))
        #expect(!rules.isIgnored("up.five", isDirectory: false))
        #expect(rules.isIgnored("]", isDirectory: false))
    }

    @Test func doubleStarForms() throws {
        let rules = try rules([".gitignore": "**/logs\n**/cache/*.bin\nabc/**\na/**/b\n"])
        #expect(rules.isIgnored("logs", isDirectory: true))
        #expect(rules.isIgnored("x/y/logs", isDirectory: false))
        #expect(rules.isIgnored("cache/v.bin", isDirectory: false))
        #expect(rules.isIgnored("p/q/cache/v.bin", isDirectory: false))
        #expect(!rules.isIgnored("p/cache/deeper/v.bin", isDirectory: false))
        #expect(rules.isIgnored("abc/file", isDirectory: false))
        #expect(rules.isIgnored("abc/d/e/file", isDirectory: false))
        #expect(!rules.isIgnored("abc", isDirectory: true))
        #expect(rules.isIgnored("a/b", isDirectory: false))
        #expect(rules.isIgnored("a/x/b", isDirectory: false))
        #expect(rules.isIgnored("a/x/y/b", isDirectory: false))
        #expect(!rules.isIgnored("a/xb", isDirectory: false))
    }

    @Test func deeperRuleFilesOverrideShallowerOnes() throws {
        let rules = try rules([
            ".gitignore": "*.md\n!keep.txt\n",
            "docs/.gitignore": "!*.md\nkeep.txt\n",
        ])
        #expect(rules.isIgnored("readme.md", isDirectory: false))
        #expect(!rules.isIgnored("docs/readme.md", isDirectory: false))
        #expect(!rules.isIgnored("docs/deep/readme.md", isDirectory: false))
        #expect(rules.isIgnored("docs/keep.txt", isDirectory: false))
        #expect(!rules.isIgnored("keep.txt", isDirectory: false))
    }

    @Test func fileInsideExcludedDirectoryCannotBeReincluded() throws {
        let rules = try rules([
            ".gitignore": "build/\n!build/keep.txt\nout/*\n!out/keep.txt\n",
            "build/.gitignore": "!*\n",
        ])
        #expect(rules.isIgnored("build/keep.txt", isDirectory: false))
        #expect(rules.isIgnored("build/sub/anything", isDirectory: false))
        // Excluding the contents instead of the directory leaves room for a negation.
        #expect(!rules.isIgnored("out/keep.txt", isDirectory: false))
        #expect(rules.isIgnored("out/other.txt", isDirectory: false))
        // The entry check trusts the caller that the parent is not ignored.
        #expect(!rules.isIgnoredEntry("build/keep.txt", isDirectory: false))
    }

    @Test func infoExcludeIsBelowRuleFiles() throws {
        let rules = try rules([".git/info/exclude": "*.secret\nlocal/\n", ".gitignore": "!shared.secret\n"])
        #expect(rules.isIgnored("a.secret", isDirectory: false))
        #expect(rules.isIgnored("x/local", isDirectory: true))
        #expect(!rules.isIgnored("shared.secret", isDirectory: false))
    }

    @Test func deltasyncignoreWinsOverGitignoreInTheSameDirectory() throws {
        let rules = try rules([
            ".gitignore": "*.gen\n!tracked.txt\n",
            ".deltasyncignore": "!keep.gen\ntracked.txt\n*.tmp\n",
            "sub/.gitignore": "!*.tmp\n",
        ])
        #expect(rules.isIgnored("x.gen", isDirectory: false))
        #expect(!rules.isIgnored("keep.gen", isDirectory: false))
        #expect(rules.isIgnored("tracked.txt", isDirectory: false))
        #expect(rules.isIgnored("a.tmp", isDirectory: false))
        // A deeper .gitignore still beats a shallower .deltasyncignore.
        #expect(!rules.isIgnored("sub/a.tmp", isDirectory: false))
    }

    @Test(arguments: [true, false]) func defaultExcludes(enabled: Bool) throws {
        let rules = try rules([:], defaults: enabled)
        for directory in ["node_modules", "a/__pycache__", ".build", ".venv", "x/.hg", ".next"] {
            #expect(rules.isIgnored(directory, isDirectory: true) == enabled, "\(directory)")
        }
        #expect(rules.isIgnored("pkg/mod.pyc", isDirectory: false) == enabled)
        #expect(rules.isIgnored(".DS_Store", isDirectory: false) == enabled)
        #expect(!rules.isIgnored("node_modules", isDirectory: false))
        #expect(IgnoreRules.defaultExcludes.contains("node_modules/"))
    }

    @Test func userNegationReincludesADefaultExclude() throws {
        let rules = try rules([".gitignore": "!node_modules/\n!*.pyc\n"], defaults: true)
        #expect(!rules.isIgnored("node_modules/lib/index.js", isDirectory: false))
        #expect(!rules.isIgnored("x.pyc", isDirectory: false))
        #expect(rules.isIgnored(".venv", isDirectory: true))
    }

    @Test(arguments: [true, false]) func gitAndStateDirectoryAreAlwaysExcluded(defaults: Bool) throws {
        let rules = try rules([".gitignore": "!.git\n!.git/\n!.deltasync/\n!*\n"], defaults: defaults)
        #expect(rules.isIgnored(".git", isDirectory: true))
        #expect(rules.isIgnored(".git", isDirectory: false))
        #expect(rules.isIgnored(".git/config", isDirectory: false))
        #expect(rules.isIgnored("vendor/lib/.git", isDirectory: true))
        #expect(rules.isIgnored(".deltasync/state.sqlite", isDirectory: false))
        #expect(!rules.isIgnored(".gitignore", isDirectory: false))
        let custom = IgnoreRules(root: directory.path, stateDirectoryName: "sync-state", useDefaultExcludes: defaults)
        #expect(custom.isIgnored("sync-state", isDirectory: true))
        #expect(!custom.isIgnored(".deltasync", isDirectory: true))
    }

    @Test func cachedRulesChangeOnlyAfterInvalidate() throws {
        let rules = try rules(["sub/.gitignore": "a.txt\n"])
        #expect(rules.isIgnored("sub/a.txt", isDirectory: false))
        try directory.write("sub/.gitignore", "b.txt\n")
        #expect(rules.isIgnored("sub/a.txt", isDirectory: false))
        rules.invalidate(directory: "sub")
        #expect(!rules.isIgnored("sub/a.txt", isDirectory: false))
        #expect(rules.isIgnored("sub/b.txt", isDirectory: false))
    }

    @Test func ruleFileNames() {
        #expect(IgnoreRules.isRuleFile(".gitignore"))
        #expect(IgnoreRules.isRuleFile(".deltasyncignore"))
        #expect(!IgnoreRules.isRuleFile("gitignore"))
        #expect(!IgnoreRules.isRuleFile(".gitattributes"))
    }

    @Test func concurrentCallersShareOneCache() async throws {
        let rules = try rules([".gitignore": "*.o\n", "a/.gitignore": "!keep.o\n"])
        let answers = await withTaskGroup(of: [Bool].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<200).map { i in
                        rules.isIgnored("a/\(i % 2 == 0 ? "keep" : "x\(i)").o", isDirectory: false)
                    }
                }
            }
            return await group.reduce(into: [[Bool]]()) { $0.append($1) }
        }
        let expected = (0..<200).map { $0 % 2 != 0 }
        #expect(answers.allSatisfy { $0 == expected })
    }
}
