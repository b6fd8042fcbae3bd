import Foundation
import DeltaTestSupport
import Testing

@testable import DeltaClient

/// Generates random trees with random rule files at several levels and checks that the scanner
/// keeps exactly the files `git ls-files --others --exclude-standard` lists.
struct GitIgnoreDifferentialTests {
    @Test(arguments: [1, 3, 4, 6, 7, 8, 9, 10] as [UInt64])
    func scannerAgreesWithGit(seed: UInt64) throws {
        let tree = try ScanTestDirectory()
        let home = try ScanTestDirectory()
        var generator = TreeGenerator(seed: seed)
        let ruleFiles = try generator.build(in: tree)

        let environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": home.path, "XDG_CONFIG_HOME": home.path + "/xdg", "GIT_CONFIG_NOSYSTEM": "1",
        ]
        try ScanTestDirectory.run(
            "/usr/bin/env", ["git", "-c", "init.defaultBranch=main", "init", "-q"], in: tree.path,
            environment: environment)
        let exclude = generator.infoExclude()
        if !exclude.isEmpty {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tree.path + "/.git/info/exclude"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(exclude.utf8))
            try handle.close()
        }
        let output = try ScanTestDirectory.run(
            "/usr/bin/env", ["git", "ls-files", "--others", "--exclude-standard", "-z"], in: tree.path,
            environment: environment
        )
        let gitFiles = Set(output.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })

        let rules = IgnoreRules(root: tree.path, useDefaultExcludes: false)
        let result = try TreeScanner(root: tree.path, ignore: rules).scan()
        let ourFiles = Set(result.files.map(\.path))

        #expect(result.skipped.isEmpty)
        #expect(gitFiles.count > 20, "the generated tree should leave a fair number of files")
        let ignoredCount = generator.files.filter { !ourFiles.contains($0) }.count
        #expect(ignoredCount > 10, "the rules should ignore a fair number of files")
        let onlyGit = gitFiles.subtracting(ourFiles).sorted()
        let onlyUs = ourFiles.subtracting(gitFiles).sorted()
        #expect(
            onlyGit.isEmpty && onlyUs.isEmpty,
            """
            seed \(seed): only git lists \(onlyGit); only the scanner lists \(onlyUs)
            rule files:
            \(ruleFiles.sorted { $0.key < $1.key }.map { "== \($0.key)\n\($0.value)" }.joined(separator: "\n"))
            info/exclude:
            \(exclude)
            """
        )
        // The per-path API must agree with the walk for every file that exists.
        for path in generator.files {
            #expect(rules.isIgnored(path, isDirectory: false) == !ourFiles.contains(path), "\(path)")
        }
    }
}

/// Builds a random tree of a few hundred files over nested directories, and rule files drawn
/// from a pool of pattern forms that refer to the names actually used.
fileprivate struct TreeGenerator {
    private var random: SplitMix64
    private(set) var files: [String] = []

    private let directoryNames = [
        "src", "lib", "build", "docs", "out", "gen", "logs", "cache", "a", "b", "vendor", "Sub",
    ]
    private let stems = [
        "main", "util", "README", "notes", "data", "file1", "file2", "file10", "x", "keep", "debug", "7seas", "index",
    ]
    private let extensions = [".c", ".h", ".o", ".txt", ".log", ".md", ".tmp", ".bin", ".py", "", ".a"]
    private let oddNames = [
        "#notes", "!bang.txt", "my file.txt", "trail ", "[x].txt", "a b", "ünï.txt", "-dash", "x?y",
    ]

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// Writes the tree and returns the rule files it wrote (path → contents).
    mutating func build(in directory: ScanTestDirectory) throws -> [String: String] {
        var directories = [""]
        fill("", depth: 0, directories: &directories)
        for path in files { try directory.write(path, path) }
        var ruleFiles: [String: String] = [:]
        for dir in directories where dir.isEmpty || random.chance(55) {
            let lines = (0..<(1 + random.below(6))).map { _ in patternLine() }
            let path = dir.isEmpty ? ".gitignore" : dir + "/.gitignore"
            ruleFiles[path] = lines.joined(separator: "\n") + (random.chance(80) ? "\n" : "")
            try directory.write(path, ruleFiles[path] ?? "")
        }
        return ruleFiles
    }

    /// Extra patterns for `.git/info/exclude` (often none).
    mutating func infoExclude() -> String {
        guard random.chance(40) else { return "" }
        return (0..<(1 + random.below(3))).map { _ in patternLine() }.joined(separator: "\n") + "\n"
    }

    private mutating func fill(_ dir: String, depth: Int, directories: inout [String]) {
        let prefix = dir.isEmpty ? "" : dir + "/"
        for _ in 0..<(3 + random.below(6)) {
            let name = random.chance(12) ? random.pick(oddNames) : random.pick(stems) + random.pick(extensions)
            if !files.contains(prefix + name) { files.append(prefix + name) }
        }
        guard depth < 4 else { return }
        let subdirectories = [4 + random.below(4), 2 + random.below(3), 1 + random.below(3), random.below(3)][depth]
        for _ in 0..<subdirectories {
            let child = prefix + random.pick(directoryNames)
            if directories.contains(child) || files.contains(child) { continue }
            directories.append(child)
            fill(child, depth: depth + 1, directories: &directories)
        }
    }

    private mutating func patternLine() -> String {
        let dir = random.pick(directoryNames)
        let stem = random.pick(stems)
        let ext = random.pick(extensions.filter { !$0.isEmpty })
        let forms: [String] = [
            "*\(ext)", "\(stem)\(ext)", "\(dir)/", "/\(stem)\(ext)", "/\(dir)", "\(dir)/*\(ext)", "**/\(dir)",
            "**/\(dir)/*\(ext)", "\(dir)/**", "\(dir)/**/\(stem)*", "*.[oa]", "file?.txt", "[!a-m]*\(ext)",
            "[^x]*.log", "[[:digit:]]*", "[a-c]*", "\\#notes", "\\!bang.txt", "trail\\ ", "my file.txt",
            "\\[x\\].txt", "[[]x].txt", "\(stem)   ", "# \(stem)", "", "*/\(stem)\(ext)", "/\(dir)/\(stem)*",
            "\(dir)/\(random.pick(directoryNames))/", "!*/", "*", "x\\?y", "\(stem)\(ext)/",
            "\(dir)/[!a-m]*", "\(dir)**/\(stem)*", "\(dir)*/\(stem)\(ext)", "**/\(stem)\(ext)", "\(dir)/**/",
            "/**/\(dir)/", "[[:upper:]]*", "\(stem)[0-9]*", "?\(ext)",
        ]
        let line = random.pick(forms)
        // Negations make up a good third of the rules, so re-inclusion paths get exercised.
        if random.chance(35) && !line.isEmpty && !line.hasPrefix("#") && !line.hasPrefix("!") { return "!" + line }
        if line == "*" && random.chance(70) { return "*.never" }
        return line
    }
}
