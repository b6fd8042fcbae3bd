import DeltaGraph
import Testing

struct ExtractCTests {
    typealias Support = ExtractTestSupport

    @Test func includesOfEveryBranchButIfZero() throws {
        let source = """
            #include "a.h"
            #  include <sys/b.h>
            # /* c */ include_next <c.h>
            #import "d.h"
            #include \\
                "continued.h"
            #include MACRO_HEADER
            // #include "comment.h"
            /* #include "block.h" */
            const char *s = "#include \\"string.h\\"";
            #ifdef CONFIG_X
            #include "x.h"
            #else
            #include "notx.h"
            #endif
            #if 0
            #include "dead.h"
            #if 1
            #include "dead2.h"
            #endif
            don't stop at an apostrophe
            #elif FOO
            #include "elif.h"
            #else
            #include "else.h"
            #endif
            #if (0)
            #include "dead3.h"
            #endif
            """
        let facts = try #require(Support.facts("a.c", source))
        #expect(
            Support.specifiers(facts) == [
                "a.h", "sys/b.h", "c.h", "d.h", "continued.h", "x.h", "notx.h", "elif.h", "else.h",
            ])
        #expect(
            facts.imports.map(\.kind) == [
                .quoted, .angle, .angle, .quoted, .quoted, .quoted, .quoted, .quoted, .quoted,
            ])
        #expect(facts.imports.first?.line == 1)
        #expect(facts.imports.first { $0.specifier == "continued.h" }?.line == 6)
    }

    @Test func rawStringsAndCharacterLiterals() throws {
        let source = """
            const char *r = R"x(
            #include "raw.h"
            )x";
            char q = '"';
            #include "after.h"
            int n = 1'000'000;
            """
        let facts = try #require(Support.facts("a.cpp", source))
        #expect(Support.specifiers(facts) == ["after.h"])
        #expect(Support.symbol(facts, "n")?.kind == "variable")
    }

    @Test func symbolsKindsSignaturesAndExport() throws {
        let source = """
            #define MAX(a,b) ((a) > (b) ? (a) : (b))
            #define LIMIT 10
            #define VARIADIC(fmt, ...) printf(fmt, __VA_ARGS__)
            struct point { int x; int y; };
            union value { int i; float f; };
            enum color { RED, GREEN };
            typedef struct { int a; } anon_t;
            typedef int (*handler_t)(int);
            typedef unsigned long ulong;
            static int
            foo(int a,   /* comment */ char *b)
            {
                if (a) { return 1; }
                return 0;
            }
            int bar(void);
            extern int baz(int x) __attribute__((nonnull));
            int counter = 0;
            static int hidden;
            EXPORT_SYMBOL(bar);
            static DEFINE_MUTEX(lock);
            SYSCALL_DEFINE3(open, const char __user *, filename, int, flags, umode_t, mode)
            {
                return do_sys_open(filename, flags, mode);
            }
            static int __init init_thing(void) { return 0; }
            __printf(1, 2) void logf(const char *fmt, ...);
            """
        let facts = try #require(Support.facts("a.c", source))
        let byName = Dictionary(facts.symbols.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byName["MAX"]?.signature == "#define MAX(a, b)")
        #expect(byName["MAX"]?.kind == "macro")
        #expect(byName["LIMIT"]?.signature == "#define LIMIT")
        #expect(byName["VARIADIC"]?.signature == "#define VARIADIC(fmt, ...)")
        #expect(byName["point"]?.kind == "struct")
        #expect(byName["point"]?.signature == "struct point")
        #expect(byName["value"]?.kind == "union")
        #expect(byName["color"]?.kind == "enum")
        #expect(byName["anon_t"]?.kind == "typedef")
        #expect(byName["handler_t"]?.kind == "typedef")
        #expect(byName["handler_t"]?.signature == "typedef int (*handler_t)(int)")
        #expect(byName["ulong"]?.kind == "typedef")
        let foo = try #require(byName["foo"])
        #expect(foo.kind == "function")
        #expect(foo.signature == "static int foo(int a, char *b)")
        #expect(foo.exported == false)
        #expect(foo.line == 11)
        #expect(byName["bar"]?.kind == "declaration")
        #expect(byName["bar"]?.exported == true)
        #expect(byName["baz"]?.signature == "extern int baz(int x) __attribute__((nonnull))")
        #expect(byName["counter"]?.kind == "variable")
        #expect(byName["counter"]?.signature == "int counter")
        #expect(byName["hidden"]?.exported == false)
        #expect(byName["EXPORT_SYMBOL"] == nil)
        #expect(byName["DEFINE_MUTEX"] == nil)
        #expect(byName["lock"] == nil)
        #expect(byName["open"]?.kind == "function")
        #expect(byName["init_thing"]?.exported == false)
        #expect(byName["logf"]?.kind == "declaration")
        #expect(byName["__printf"] == nil)
        #expect(byName["a"] == nil)
    }

    @Test func externCAndConditionalBodies() throws {
        let source = """
            #ifdef __cplusplus
            extern "C" {
            #endif
            int inside(void);
            #ifdef CONFIG_A
            int choose(int a) {
            #else
            int choose(int a, int b) {
            #endif
                return a;
            }
            int after(void) { return 0; }
            #ifdef __cplusplus
            }
            #endif
            int last;
            """
        let facts = try #require(Support.facts("a.c", source))
        #expect(Support.names(facts) == ["inside", "choose", "choose", "after", "last"])
    }

    @Test func cppClassesNamespacesAndMethods() throws {
        let source = """
            namespace outer {
            template <typename T = int> class Box : public Base<T, 3> {
            public:
                void put(T value) { items.push_back(value); }
            };
            int Box<int>::size() const { return 0; }
            Widget::Widget(int x) : a(x), b{x} { init(); }
            bool operator==(const Box<int> &a, const Box<int> &b);
            enum class Mode : unsigned { On, Off };
            using Id = unsigned long;
            }
            namespace {
            int helper(void) { return 1; }
            }
            """
        let facts = try #require(Support.facts("a.cpp", source))
        let names = Support.names(facts)
        #expect(names.contains("Box"))
        #expect(Support.symbol(facts, "Box")?.kind == "class")
        #expect(Support.symbol(facts, "Box")?.signature == "class Box : public Base<T, 3>")
        #expect(names.contains("Widget::Widget"))
        #expect(names.contains("operator=="))
        #expect(Support.symbol(facts, "Mode")?.kind == "enum")
        #expect(Support.symbol(facts, "Id")?.kind == "typedef")
        #expect(!names.contains("put"))
        #expect(Support.symbol(facts, "helper")?.exported == false)
    }

    @Test func sourceFingerprintIgnoresBodiesAndComments() throws {
        let base = "int api(int a);\nstatic int local(void) { return 1; }\nint api(int a) { return a; }\n"
        let body = "int api(int a);\nstatic int local(void) { return 2; }\nint api(int a) { return a + 1; }\n"
        let comment =
            "// note\nint api(int a);\n\n\nstatic int local(void) { return 1; }\nint api(int   a) { return a; }\n"
        let changed = "int api(long a);\nstatic int local(void) { return 1; }\nint api(long a) { return a; }\n"
        let print = { (source: String) in Support.facts("x.c", source)?.fingerprint }
        #expect(print(base) == print(body))
        #expect(print(base) == print(comment))
        #expect(print(base) != print(changed))
    }

    @Test func headerFingerprintIsTheTokenStream() throws {
        let base = "#define A 1\nstatic inline int f(void) { return A; }\n"
        let comment = "/* header */\n#define A 1  // one\nstatic inline int\nf(void) { return A; }\n"
        let token = "#define A 1\nstatic inline int f(void) { return A + 0; }\n"
        let print = { (source: String) in Support.facts("x.h", source)?.fingerprint }
        #expect(print(base) == print(comment))
        #expect(print(base) != print(token))
        #expect(print("int a;") != print("int  b;"))
        #expect(print("#define F(x) x\n") != print("#define F (x) x\n"))
        #expect(print("#if 0\nint a;\n#endif\n") == print("#if 0\nint b;\n#endif\n"))
    }

    @Test func headersAndLanguages() {
        #expect(Extractor.isHeader("include/linux/list.h"))
        #expect(Extractor.isHeader("a.hpp"))
        #expect(Extractor.isHeader("gen.inc"))
        #expect(!Extractor.isHeader("a.c"))
        #expect(Extractor.language(path: "a.h", contents: []) == .c)
        #expect(Extractor.language(path: "a.hpp", contents: []) == .cpp)
        #expect(Extractor.language(path: "a.cc", contents: []) == .cpp)
    }
}
