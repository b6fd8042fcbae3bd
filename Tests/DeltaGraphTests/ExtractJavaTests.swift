import DeltaGraph
import Testing

struct ExtractJavaTests {
    typealias Support = ExtractTestSupport

    @Test func importsAndPackage() throws {
        let source = #"""
            /* import hidden.Block; */
            package com.example.app;

            import java.util.List;
            import java.util.*;
            import static org.junit.Assert.assertEquals;
            import static org.junit.Assert.*;
            // import hidden.Line;

            class A {
                String s = "import hidden.String;";
                String t = """
                    import hidden.TextBlock;
                    """;
                char c = '"';
            }
            """#
        let facts = try #require(Support.facts("A.java", source))
        #expect(facts.package == "com.example.app")
        #expect(
            Support.specifiers(facts) == [
                "java.util.List", "java.util.*", "org.junit.Assert.assertEquals", "org.junit.Assert.*",
            ])
        #expect(facts.imports.map(\.names) == [[], [], ["static"], ["static"]])
        #expect(facts.imports.first?.line == 4)
    }

    @Test func typesAndMembers() throws {
        let source = """
            package p;

            @Deprecated
            public class A extends B implements C, D {
                private int count = 0;
                public static final String NAME = "a";
                public A(int x) { this.count = x; }
                @Override
                public static <T> List<T> m(int x, Map<String, List<T>> y) throws IOException {
                    Runnable r = new Runnable() { public void run() {} };
                    return null;
                }
                private void hidden() {}
                static class Inner { void deep() {} }
                { init(); }
            }
            interface I { int size(); }
            enum E { ONE, TWO { void f() {} }; void g() {} }
            record R(int x, int y) implements I {}
            @interface Ann { int value() default 0; }
            """
        let facts = try #require(Support.facts("A.java", source))
        #expect(
            Support.names(facts) == [
                "A", "A.count", "A.NAME", "A.A", "A.m", "A.hidden", "A.Inner", "I", "I.size", "E", "E.g", "R", "Ann",
                "Ann.value",
            ])
        #expect(Support.symbol(facts, "A")?.signature == "public class A extends B implements C, D")
        #expect(Support.symbol(facts, "A")?.kind == "class")
        #expect(
            Support.symbol(facts, "A.m")?.signature
                == "public static <T> List<T> m(int x, Map<String, List<T>> y) throws IOException")
        #expect(Support.symbol(facts, "A.m")?.kind == "method")
        #expect(Support.symbol(facts, "A.A")?.kind == "constructor")
        #expect(Support.symbol(facts, "A.count")?.exported == false)
        #expect(Support.symbol(facts, "A.hidden")?.exported == false)
        #expect(Support.symbol(facts, "I")?.kind == "interface")
        #expect(Support.symbol(facts, "E")?.kind == "enum")
        #expect(Support.symbol(facts, "R")?.kind == "record")
        #expect(Support.symbol(facts, "R")?.signature == "record R(int x, int y) implements I")
        #expect(Support.symbol(facts, "Ann")?.kind == "annotation")
    }

    @Test func fingerprint() throws {
        let print = { (source: String) in Support.facts("M.java", source)?.fingerprint }
        let base = "package p;\nclass M { public int f(int a) { return a; } }\n"
        let body = "package p;\nclass M { public int f(int a) { return a + 1; } }\n"
        let comment = "package p;\n/** Doc. */\nclass M {\n  // c\n  public int f(int a) {\n    return a;\n  }\n}\n"
        let signature = "package p;\nclass M { public int f(long a) { return a; } }\n"
        let package = "package q;\nclass M { public int f(int a) { return a; } }\n"
        #expect(print(base) == print(body))
        #expect(print(base) == print(comment))
        #expect(print(base) != print(signature))
        #expect(print(base) != print(package))
    }
}
