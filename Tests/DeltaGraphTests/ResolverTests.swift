import DeltaGraph
import Testing

/// Resolution per language, the way each language's own tools resolve imports.
@Suite struct ResolverTests {
    static func resolve(
        _ spec: ImportSpec, from importer: String, _ language: Language, in paths: [String],
        configuration files: [String: String] = [:]
    ) -> [String] {
        let configuration = GraphConfiguration(files: files.mapValues { Array($0.utf8) })
        return Resolver(index: PathIndex(paths + [importer]), configuration: configuration)
            .resolve(spec, importer: importer, language: language).targets
    }

    static func module(_ text: String, names: [String] = []) -> ImportSpec {
        ImportSpec(specifier: text, kind: .module, line: 1, names: names)
    }

    @Test func pythonAbsoluteRelativeAndFromImports() {
        let paths = ["pkg/__init__.py", "pkg/util.py", "pkg/sub/__init__.py", "pkg/sub/deep.py", "src/lib/core.py"]
        #expect(Self.resolve(Self.module("pkg.util"), from: "app.py", .python, in: paths) == ["pkg/util.py"])
        #expect(Self.resolve(Self.module("pkg.sub"), from: "app.py", .python, in: paths) == ["pkg/sub/__init__.py"])
        #expect(Self.resolve(Self.module("lib.core"), from: "app.py", .python, in: paths) == ["src/lib/core.py"])
        #expect(Self.resolve(Self.module(".deep"), from: "pkg/sub/x.py", .python, in: paths) == ["pkg/sub/deep.py"])
        #expect(
            Self.resolve(Self.module("..", names: ["util"]), from: "pkg/sub/x.py", .python, in: paths) == [
                "pkg/__init__.py", "pkg/util.py",
            ])
        #expect(
            Self.resolve(Self.module("pkg", names: ["util"]), from: "app.py", .python, in: paths) == [
                "pkg/__init__.py", "pkg/util.py",
            ])
        #expect(Self.resolve(Self.module("os"), from: "app.py", .python, in: paths).isEmpty)
        #expect(Self.resolve(Self.module("...x"), from: "a.py", .python, in: paths).isEmpty)
    }

    @Test func scriptsRelativeExtensionsIndexFilesAndTsconfigPaths() {
        let paths = ["web/a.ts", "web/lib/index.tsx", "web/lib/util.js", "src/app/x.ts", "web/types.d.ts"]
        #expect(Self.resolve(Self.module("./a"), from: "web/m.ts", .typescript, in: paths) == ["web/a.ts"])
        #expect(Self.resolve(Self.module("./lib"), from: "web/m.ts", .typescript, in: paths) == ["web/lib/index.tsx"])
        #expect(
            Self.resolve(Self.module("../web/lib/util"), from: "web/m.ts", .typescript, in: paths) == [
                "web/lib/util.js"
            ])
        // ESM TypeScript names the emitted `.js`.
        #expect(Self.resolve(Self.module("./a.js"), from: "web/m.ts", .typescript, in: paths) == ["web/a.ts"])
        #expect(Self.resolve(Self.module("./types"), from: "web/m.ts", .typescript, in: paths) == ["web/types.d.ts"])
        #expect(Self.resolve(Self.module("react"), from: "web/m.ts", .typescript, in: paths).isEmpty)
        let tsconfig = [
            "tsconfig.json": """
            {
              // comments and trailing commas are allowed here
              "compilerOptions": { "baseUrl": ".", "paths": { "@app/*": ["src/app/*"], }, },
            }
            """
        ]
        #expect(
            Self.resolve(Self.module("@app/x"), from: "web/m.ts", .typescript, in: paths, configuration: tsconfig) == [
                "src/app/x.ts"
            ])
        #expect(
            Self.resolve(Self.module("web/a"), from: "src/m.ts", .typescript, in: paths, configuration: tsconfig) == [
                "web/a.ts"
            ])
    }

    @Test func goPackagesThroughGoMod() {
        let paths = ["svc/util/a.go", "svc/util/b.go", "svc/util/a_test.go", "svc/main.go"]
        let gomod = ["svc/go.mod": "module example.com/svc // the service\n\ngo 1.22\n"]
        #expect(
            Self.resolve(Self.module("example.com/svc/util"), from: "svc/main.go", .go, in: paths, configuration: gomod)
                == ["svc/util/a.go", "svc/util/b.go"])
        #expect(Self.resolve(Self.module("fmt"), from: "svc/main.go", .go, in: paths, configuration: gomod).isEmpty)
    }

    @Test func rustModulesAndUsePaths() {
        let paths = ["src/lib.rs", "src/net.rs", "src/net/tcp.rs", "src/util/mod.rs", "src/util/strings.rs"]
        let mod = { ImportSpec(specifier: $0, kind: .rustMod, line: 1) }
        let use = { ImportSpec(specifier: $0, kind: .rustUse, line: 1) }
        #expect(Self.resolve(mod("net"), from: "src/lib.rs", .rust, in: paths) == ["src/net.rs"])
        #expect(Self.resolve(mod("util"), from: "src/lib.rs", .rust, in: paths) == ["src/util/mod.rs"])
        #expect(Self.resolve(mod("tcp"), from: "src/net.rs", .rust, in: paths) == ["src/net/tcp.rs"])
        #expect(
            Self.resolve(use("crate::net::tcp::Stream"), from: "src/util/strings.rs", .rust, in: paths) == [
                "src/net/tcp.rs"
            ])
        #expect(
            Self.resolve(use("self::strings::trim"), from: "src/util/mod.rs", .rust, in: paths) == [
                "src/util/strings.rs"
            ])
        // An item of the module itself is no edge.
        #expect(Self.resolve(use("self::Local"), from: "src/util/mod.rs", .rust, in: paths).isEmpty)
        #expect(Self.resolve(use("super::Helper"), from: "src/net/tcp.rs", .rust, in: paths) == ["src/net.rs"])
        #expect(Self.resolve(use("crate::Thing"), from: "src/net.rs", .rust, in: paths) == ["src/lib.rs"])
        #expect(Self.resolve(use("std::io::Read"), from: "src/lib.rs", .rust, in: paths).isEmpty)
    }

    @Test func javaClassesPackagesAndStaticImports() {
        let paths = ["src/main/java/com/x/A.java", "src/main/java/com/x/B.java", "src/main/java/com/y/C.java"]
        #expect(
            Self.resolve(Self.module("com.x.A"), from: "Main.java", .java, in: paths) == ["src/main/java/com/x/A.java"])
        #expect(
            Self.resolve(Self.module("com.x.*"), from: "Main.java", .java, in: paths) == [
                "src/main/java/com/x/A.java", "src/main/java/com/x/B.java",
            ])
        #expect(
            Self.resolve(Self.module("com.y.C.helper", names: ["static"]), from: "Main.java", .java, in: paths) == [
                "src/main/java/com/y/C.java"
            ])
        #expect(Self.resolve(Self.module("java.util.List"), from: "Main.java", .java, in: paths).isEmpty)
    }

    @Test func swiftModulesOfAPackage() {
        let paths = ["Sources/Core/A.swift", "Sources/Core/Sub/B.swift", "Sources/App/main.swift"]
        #expect(
            Self.resolve(Self.module("Core"), from: "Sources/App/main.swift", .swift, in: paths) == [
                "Sources/Core/A.swift", "Sources/Core/Sub/B.swift",
            ])
        #expect(Self.resolve(Self.module("Foundation"), from: "Sources/App/main.swift", .swift, in: paths).isEmpty)
    }

    @Test func aBrokenConfigurationKeepsTheDefaultsAndSaysWhy() {
        let configuration = GraphConfiguration(files: [GraphConfiguration.fileName: Array("{ nope".utf8)])
        #expect(configuration.cIncludeDirectories == GraphConfiguration.defaultCIncludeDirectories)
        #expect(configuration.problems.count == 1)
    }

    /// Paths sharing a tail (the last two components) are each found, and each goes on removal,
    /// whatever the order; so are directories.
    @Test func pathsSharingATailAreFoundUntilEachIsRemoved() {
        var index = PathIndex(["a/x/y.java", "b/x/y.java", "x/y.java", "c/other/y.java"])
        #expect(index.javaFiles(endingIn: "x/y.java") == ["a/x/y.java", "b/x/y.java", "x/y.java"])
        #expect(index.javaFiles(endingIn: "b/x/y.java") == ["b/x/y.java"])
        #expect(index.directories(endingIn: "a/x") == ["a/x"])
        index.remove("a/x/y.java")
        #expect(index.javaFiles(endingIn: "x/y.java") == ["b/x/y.java", "x/y.java"])
        #expect(index.directories(endingIn: "a/x").isEmpty)
        index.remove("x/y.java")
        #expect(index.javaFiles(endingIn: "x/y.java") == ["b/x/y.java"])
        index.insert("x/y.java")
        index.insert("x/y.java")
        #expect(index.javaFiles(endingIn: "x/y.java") == ["b/x/y.java", "x/y.java"])
        index.remove("b/x/y.java")
        index.remove("x/y.java")
        #expect(index.javaFiles(endingIn: "x/y.java").isEmpty)
        #expect(index.javaFiles(endingIn: "other/y.java") == ["c/other/y.java"])
        #expect(index.files == ["c/other/y.java"])
    }

    /// Only `.java` files are held by tail (Java's lookups are the only ones by tail): another
    /// file is in the index but never found by a tail, and the Java lookup by tail still is.
    @Test func onlyJavaFilesAreFoundByTail() {
        let index = PathIndex(["a/x/y.h", "a/x/y.java", "b/x/y.javax"])
        #expect(index.contains("a/x/y.h"))
        #expect(index.javaFiles(endingIn: "x/y.h").isEmpty)
        #expect(index.javaFiles(endingIn: "x/y.javax").isEmpty)
        #expect(index.javaFiles(endingIn: "x/y.java") == ["a/x/y.java"])
    }
}
