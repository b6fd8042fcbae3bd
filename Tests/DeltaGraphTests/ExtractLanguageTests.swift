import DeltaGraph
import Testing

struct ExtractLanguageTests {
    @Test(arguments: [
        ("a.c", Language.c), ("a.h", .c), ("a.cc", .cpp), ("a.cpp", .cpp), ("a.cxx", .cpp), ("a.c++", .cpp),
        ("a.hh", .cpp), ("a.hpp", .cpp), ("a.hxx", .cpp), ("a.h++", .cpp), ("a.ipp", .cpp), ("a.py", .python),
        ("a.pyi", .python), ("a.js", .javascript), ("a.mjs", .javascript), ("a.cjs", .javascript),
        ("a.jsx", .javascript), ("a.ts", .typescript), ("a.tsx", .typescript), ("a.mts", .typescript),
        ("a.cts", .typescript), ("types/index.d.ts", .typescript), ("a.go", .go), ("a.rs", .rust),
        ("dir.v2/a.swift", .swift), ("A.java", .java),
    ])
    func byExtension(path: String, language: Language) {
        #expect(Extractor.language(path: path, contents: []) == language)
    }

    @Test func byShebang() {
        let cases: [(String, Language?)] = [
            ("#!/usr/bin/env python3\nprint(1)\n", .python),
            ("#!/usr/bin/python2.7\n", .python),
            ("#!/usr/bin/env node\n", .javascript),
            ("#!/usr/bin/env -S node --experimental-modules\n", .javascript),
            ("#!/usr/bin/env -S deno run --allow-net\n", .typescript),
            ("#!/usr/bin/swift\n", .swift),
            ("#!/bin/bash\n", nil),
            ("#!/bin/sh\nimport x\n", nil),
            ("no shebang", nil),
        ]
        for (contents, language) in cases {
            #expect(Extractor.language(path: "bin/tool", contents: Array(contents.utf8)) == language)
        }
        #expect(Extractor.language(path: "run.sh", contents: Array("#!/usr/bin/env python3\n".utf8)) == nil)
        #expect(Extractor.language(path: "README.md", contents: []) == nil)
        #expect(Extractor.extract(path: "Makefile", contents: Array("all:\n".utf8)) == nil)
        let script = Extractor.extract(path: "bin/tool", contents: Array("#!/usr/bin/env python3\nimport os\n".utf8))
        #expect(script?.language == .python)
        #expect(script?.imports.map(\.specifier) == ["os"])
    }

    @Test func largeFilesHaveImportsButNoSymbols() throws {
        var contents = Array("import os\ndef f(): pass\n#".utf8)
        contents += [UInt8](repeating: UInt8(ascii: "x"), count: DeltaGraph.maxSymbolFileSize)
        let facts = try #require(Extractor.extract(path: "big.py", contents: contents))
        #expect(facts.imports.map(\.specifier) == ["os"])
        #expect(facts.symbols.isEmpty)
        #expect(!facts.fingerprint.isEmpty)
    }
}
