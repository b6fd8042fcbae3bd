import DeltaGraph
import DeltaTestSupport
import Testing

/// Arbitrary bytes must never crash, hang or read out of bounds (the debug build checks every
/// buffer access).
struct ExtractRobustnessTests {

    static let paths = ["a.c", "a.h", "a.cpp", "a.py", "a.js", "a.ts", "a.go", "a.rs", "a.swift", "a.java"]

    /// Bytes that open and close the constructs the lexers track, mixed with noise.
    static let alphabet = Array(
        "\"'`#/\\*{}()[]<>;:,.=!\n \t$@rRbfuL0x_abc#include import from def class fn mod use func package r#\"\"\"${}\\("
            .utf8)

    @Test(arguments: paths)
    func randomBytes(path: String) {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ExtractRobustnessTests seed \(seed) for \(path)")
        var generator = SplitMix64(seed: seed)
        for round in 0..<60 {
            let length = Int.random(in: 0...3000, using: &generator)
            var bytes = [UInt8](repeating: 0, count: length)
            for index in bytes.indices {
                bytes[index] =
                    round % 2 == 0
                    ? UInt8.random(in: 0...255, using: &generator)
                    : Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &generator)]
            }
            let facts = Extractor.extract(path: path, contents: bytes)
            #expect(facts != nil)
            for spec in facts?.imports ?? [] { #expect(spec.line >= 1) }
        }
    }

    @Test(arguments: paths)
    func unterminatedConstructs(path: String) {
        let openers = [
            "\"", "'", "`", "/*", "\"\"\"", "r#\"", "#\"", "f'{", "${", "`${", "\"\\(", "#if 0\n", "R\"x(", "/re",
            "(((",
            "{{{", "import ", "from . import (", "use a::{b::{", "mod ", "package ", "#define X(",
        ]
        for opener in openers {
            for prefix in ["", "x = ", "import a\n"] {
                let facts = Extractor.extract(path: path, contents: Array((prefix + opener).utf8))
                #expect(facts != nil)
            }
        }
    }

    @Test func deepNesting() {
        let deep =
            String(repeating: "f\"{", count: 2000) + String(repeating: "\"(\\(", count: 2000)
            + String(repeating: "use a::{", count: 100) + String(repeating: "`${", count: 2000)
        for path in Self.paths {
            #expect(Extractor.extract(path: path, contents: Array(deep.utf8)) != nil)
        }
    }
}
