import DeltaGraph
import Testing

struct ExtractPythonTests {
    typealias Support = ExtractTestSupport

    @Test func importForms() throws {
        let source = """
            import a.b.c as d, e
            from ..pkg.mod import x, y as z
            from . import sibling
            from x import *
            from m import (
                one,  # comment
                two as deux,
            )
            from n import p, \\
                q
            def f():
                import inner
                try:
                    import json
                except ImportError: import simplejson as json
            if TYPE_CHECKING:
                from typing_extensions import Self; import os
            """
        let facts = try #require(Support.facts("a.py", source))
        #expect(
            Support.specifiers(facts) == [
                "a.b.c", "e", "..pkg.mod", ".", "x", "m", "n", "inner", "json", "simplejson", "typing_extensions", "os",
            ])
        let names = facts.imports.map(\.names)
        #expect(names[2] == ["x", "y"])
        #expect(names[3] == ["sibling"])
        #expect(names[4] == ["*"])
        #expect(names[5] == ["one", "two"])
        #expect(names[6] == ["p", "q"])
        #expect(facts.imports.allSatisfy { $0.kind == .module })
        #expect(facts.imports[2].line == 2)
    }

    @Test func stringsAndDocstringsHideImports() throws {
        let source = #"""
            """
            import docstring
            """
            s = 'import single'
            t = "from double import x"
            r = rb'import raw\' import still'
            f = f"{'import nested'} {x:'>10} {d["k"]}"
            g = F'''
            import triple {value!r:>{width}}
            '''
            # import comment
            import real
            """#
        let facts = try #require(Support.facts("a.py", source))
        #expect(Support.specifiers(facts) == ["real"])
    }

    @Test func definitions() throws {
        let source = """
            @decorator
            def f(a,
                  b=1) -> int:
                def inner(): pass
                return a

            async def fetch(url: str) -> bytes:
                pass

            class A(B, metaclass=M):
                def method(self): pass

            CONSTANT = 3
            _private = 4
            typed: dict[str, int] = {}
            x == 3
            if True:
                hidden = 1
            type Alias = list[int]
            """
        let facts = try #require(Support.facts("a.py", source))
        #expect(Support.names(facts) == ["f", "fetch", "A", "CONSTANT", "_private", "typed", "Alias"])
        #expect(Support.symbol(facts, "f")?.signature == "def f(a, b=1) -> int")
        #expect(Support.symbol(facts, "f")?.line == 2)
        #expect(Support.symbol(facts, "fetch")?.signature == "async def fetch(url: str) -> bytes")
        #expect(Support.symbol(facts, "A")?.signature == "class A(B, metaclass=M)")
        #expect(Support.symbol(facts, "A")?.kind == "class")
        #expect(Support.symbol(facts, "CONSTANT")?.kind == "variable")
        #expect(Support.symbol(facts, "typed")?.signature == "typed: dict[str, int]")
        #expect(Support.symbol(facts, "_private")?.exported == false)
        #expect(Support.symbol(facts, "Alias")?.kind == "type")
    }

    @Test func fingerprint() throws {
        let print = { (source: String) in Support.facts("m.py", source)?.fingerprint }
        let base = "def f(a):\n    return a\n\nclass C:\n    x = 1\n"
        let body = "def f(a):\n    return a + 1\n\nclass C:\n    x = 2\n"
        let comment = "# hello\ndef f(a):  # why\n    return a\n\n\n\nclass C:\n    x = 1\n"
        let signature = "def f(a, b):\n    return a\n\nclass C:\n    x = 1\n"
        #expect(print(base) == print(body))
        #expect(print(base) == print(comment))
        #expect(print(base) != print(signature))
        #expect(print(base) == print(base + "def _helper(): pass\n"))
    }
}
