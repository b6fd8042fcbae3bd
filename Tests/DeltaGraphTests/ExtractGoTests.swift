import DeltaGraph
import Testing

struct ExtractGoTests {
    typealias Support = ExtractTestSupport

    @Test func importsAndPackage() throws {
        let source = """
            // Package x does things. import "comment"
            package x

            import "fmt"
            import alias "example.com/y/z"
            import (
                // a comment "inside"
                _ "embed"
                . "math"
                raw `example.com/raw`
                /* "block" */ "strings"
            )

            var s = "import \\"str\\""
            """
        let facts = try #require(Support.facts("a.go", source))
        #expect(facts.package == "x")
        #expect(Support.specifiers(facts) == ["fmt", "example.com/y/z", "embed", "math", "example.com/raw", "strings"])
        #expect(facts.imports[2].line == 8)
    }

    @Test func declarations() throws {
        let source = """
            package x

            func Exported(a int, b string) (int, error) {
                return 0, nil
            }
            func local() struct{} { return struct{}{} }
            func (r *Reader) Read(p []byte) (n int, err error) { return }
            func (Reader) close() {}
            func Map[K comparable, V any](m map[K]V) []K { return nil }
            type Reader struct {
                buf []byte
            }
            type (
                Alias = string
                handler func(int) error
                Shape interface {
                    Area() float64
                }
            )
            const Pi = 3.14
            const (
                A = iota
                b
            )
            var x, Y int = 1, 2
            """
        let facts = try #require(Support.facts("a.go", source))
        #expect(
            Support.names(facts) == [
                "Exported", "local", "Reader.Read", "Reader.close", "Map", "Reader", "Alias", "handler", "Shape", "Pi",
                "A", "b", "x", "Y",
            ])
        #expect(Support.symbol(facts, "Exported")?.signature == "func Exported(a int, b string) (int, error)")
        #expect(Support.symbol(facts, "local")?.signature == "func local() struct{}")
        #expect(Support.symbol(facts, "Reader.Read")?.kind == "method")
        #expect(Support.symbol(facts, "Reader.Read")?.exported == true)
        #expect(Support.symbol(facts, "Reader.close")?.exported == false)
        #expect(Support.symbol(facts, "Reader")?.signature == "type Reader struct")
        #expect(Support.symbol(facts, "Alias")?.signature == "type Alias = string")
        #expect(Support.symbol(facts, "Shape")?.signature == "type Shape interface")
        #expect(Support.symbol(facts, "Pi")?.kind == "constant")
        #expect(Support.symbol(facts, "Y")?.signature == "var Y int")
        #expect(Support.symbol(facts, "local")?.exported == false)
    }

    @Test func fingerprint() throws {
        let print = { (source: String) in Support.facts("m.go", source)?.fingerprint }
        let base = "package m\n\nfunc F(a int) int { return a }\n"
        let body = "package m\n\nfunc F(a int) int { return a + 1 }\n"
        let comment = "package m\n// F does.\nfunc F(a   int) int {\n\treturn a\n}\n"
        let signature = "package m\n\nfunc F(a int64) int { return a }\n"
        let package = "package n\n\nfunc F(a int) int { return a }\n"
        #expect(print(base) == print(body))
        #expect(print(base) == print(comment))
        #expect(print(base) != print(signature))
        #expect(print(base) != print(package))
    }
}
