import DeltaCore
import Testing

@Suite struct PathRulesTests {
    @Test(arguments: ["a", "a/b/c.txt", "ünï/文件", ".hidden", "a..b", "...", "x/.y"])
    func acceptsValidPaths(_ path: String) {
        #expect(PathRules.violation(in: Array(path.utf8)) == nil)
    }

    @Test(arguments: [
        "", "/abs", "a//b", "a/", "./a", "a/./b", "..", "a/../b", "a\u{0}b", "a\u{7f}", "tab\there", "back\\slash",
        String(repeating: "c", count: 256), String(repeating: "d/", count: 2100) + "e",
    ])
    func rejectsInvalidPaths(_ path: String) {
        #expect(PathRules.violation(in: Array(path.utf8)) != nil)
    }

    @Test func rejectsNonUTF8() {
        #expect(PathRules.violation(in: [0x61, 0xff]) != nil)
    }

    @Test func parentsAndAncestors() {
        #expect(PathRules.parents(of: "a/b/c") == ["a", "a/b"])
        #expect(PathRules.isAncestor("a/b", of: "a/b/c"))
        #expect(!PathRules.isAncestor("a/b", of: "a/bc"))
    }
}

@Suite struct WorkspaceIdentityTests {
    @Test func derivesKeysFromTheFullPath() throws {
        let first = try WorkspaceIdentity.key(forPath: "/home/a/app")
        let second = try WorkspaceIdentity.key(forPath: "/home/b/app")
        #expect(first.hasPrefix("app-"))
        #expect(first != second)  // two repos named app never collide
        #expect(try WorkspaceIdentity.key(forPath: "/home/a/./x/../app/") == first)
    }

    @Test func rejectsRelativePathsAndBadNames() {
        #expect(throws: DeltaError.self) { try WorkspaceIdentity.key(forPath: "relative/app") }
        #expect(throws: DeltaError.self) { try WorkspaceIdentity.resolve(name: "Bad Name", path: nil) }
        #expect(throws: DeltaError.self) { try WorkspaceIdentity.resolve(name: nil, path: nil) }
        #expect((try? WorkspaceIdentity.resolve(name: "team.app-1", path: "/x/y")) == "team.app-1")
    }

    @Test func collectionNameFollowsTheExistingRule() {
        #expect(WorkspaceIdentity.collectionName(forPath: "/home/dev/demo-repo") == "demo-repo-8498378f")
    }
}
