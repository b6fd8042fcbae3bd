import DeltaGraph
import Testing

struct ExtractScriptTests {
    typealias Support = ExtractTestSupport

    @Test func importForms() throws {
        let source = """
            import x from 'default';
            import {a as b,
              c} from "named";
            import * as ns from 'star';
            import 'side-effect';
            import type { T } from './types';
            export * from 'reexport';
            export { a } from 'reexport-named';
            export * as all from 'reexport-ns';
            const fs = require('fs');
            const lazy = await import('./lazy.js');
            import legacy = require('legacy');
            require(name);
            import(`template-literal`);
            obj.import('not');
            import.meta.url;
            """
        let facts = try #require(Support.facts("a.ts", source))
        #expect(
            Support.specifiers(facts) == [
                "default", "named", "star", "side-effect", "./types", "reexport", "reexport-named", "reexport-ns", "fs",
                "./lazy.js", "legacy", "template-literal",
            ])
        #expect(facts.language == .typescript)
        #expect(facts.imports[1].line == 3)
    }

    @Test func commentsStringsTemplatesAndRegexHideImports() throws {
        let source = """
            // import a from 'comment';
            /* require('block') */
            const s = "import b from 'string'";
            const t = `import c from 'template' ${ x ? `nested ${ require('inner') }` : "}" } import d from 'e'`;
            const r = /import f from 'regex'/g;
            const q = a / b / c; import g from 'after-division';
            const u = x.split(/'/); import h from 'after-regex';
            """
        let facts = try #require(Support.facts("a.js", source))
        #expect(Support.specifiers(facts) == ["inner", "after-division", "after-regex"])
    }

    @Test func declarations() throws {
        let source = """
            export function f(a, b) { return a + b; }
            export async function* gen(): AsyncGenerator<number> { yield 1; }
            function local(x: number): { a: number } { return { a: x }; }
            export class A<T> extends B implements C {
              method() { const inner = 1; }
            }
            export const X = 1, Y = 2;
            let counter: number = 0;
            export interface I<T> extends J { a: string }
            export type T<X = string> = { a: X };
            export const enum E { A }
            export namespace N.M { export const z = 1; }
            export default class Main {}
            declare module 'ambient' { }
            (function iife() {})();
            const z = 3
            export { local, z as zed }
            """
        let facts = try #require(Support.facts("a.ts", source))
        #expect(Support.names(facts) == ["f", "gen", "local", "A", "X", "counter", "I", "T", "E", "N", "Main", "z"])
        #expect(Support.symbol(facts, "f")?.signature == "function f(a, b)")
        #expect(Support.symbol(facts, "gen")?.signature == "async function* gen(): AsyncGenerator<number>")
        #expect(Support.symbol(facts, "local")?.signature == "function local(x: number): { a: number }")
        #expect(Support.symbol(facts, "A")?.signature == "class A<T> extends B implements C")
        #expect(Support.symbol(facts, "X")?.signature == "const X")
        #expect(Support.symbol(facts, "X")?.kind == "constant")
        #expect(Support.symbol(facts, "counter")?.signature == "let counter: number")
        #expect(Support.symbol(facts, "counter")?.exported == false)
        #expect(Support.symbol(facts, "I")?.kind == "interface")
        #expect(Support.symbol(facts, "T")?.signature == "type T<X = string>")
        #expect(Support.symbol(facts, "E")?.kind == "enum")
        #expect(Support.symbol(facts, "Main")?.exported == true)
        #expect(Support.symbol(facts, "local")?.exported == true)
        #expect(Support.symbol(facts, "z")?.exported == true)
    }

    @Test func commonJSExports() throws {
        let source = """
            const helper = require('./helper');
            function run(a) {}
            function hidden() {}
            class Tool {}
            module.exports = { run, Tool: Tool };
            """
        let facts = try #require(Support.facts("a.cjs", source))
        #expect(Support.symbol(facts, "run")?.exported == true)
        #expect(Support.symbol(facts, "Tool")?.exported == true)
        #expect(Support.symbol(facts, "hidden")?.exported == false)
        #expect(Support.specifiers(facts) == ["./helper"])
    }

    @Test func fingerprint() throws {
        let print = { (source: String) in Support.facts("m.js", source)?.fingerprint }
        let base = "export function f(a) { return a; }\nfunction g() {}\n"
        let body = "export function f(a) { return a * 2; }\nfunction g() { return 1; }\n"
        let comment = "// c\nexport function f(a) {\n  return a;\n}\n\nfunction g() {}\n"
        let signature = "export function f(a, b) { return a; }\nfunction g() {}\n"
        #expect(print(base) == print(body))
        #expect(print(base) == print(comment))
        #expect(print(base) != print(signature))
    }
}
