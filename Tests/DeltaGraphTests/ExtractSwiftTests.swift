import DeltaGraph
import Testing

struct ExtractSwiftTests {
    typealias Support = ExtractTestSupport

    @Test func imports() throws {
        let source = ###"""
            import Foundation
            @testable import DeltaCore
            import struct NIOCore.ByteBuffer
            import class UIKit.UIView
            @_exported import Logging
            public import Dispatch
            @_spi(Private) import Secret
            /* import Hidden /* nested */ import Hidden2 */
            let s = "import NotThis \("import Nor" + "\(x)") done"
            let m = """
                import Multi
                """
            let r = #"import Raw \#(value) "# still"#
            let e = ##"import Raw2 "# "##
            // import Comment
            import Last
            """###
        let facts = try #require(Support.facts("a.swift", source))
        #expect(
            Support.specifiers(facts) == [
                "Foundation", "DeltaCore", "NIOCore", "UIKit", "Logging", "Dispatch", "Secret", "Last",
            ])
    }

    @Test func declarations() throws {
        let source = """
            public func run(_ a: Int, b: String) async throws -> Int {
                func nested() {}
                return 0
            }
            @MainActor
            final class Model: ObservableObject {
                var inner = 1
            }
            struct Point: Hashable { var x: Int }
            private enum Mode { case on }
            protocol Shape { func area() -> Double }
            actor Cache {}
            typealias Handler = (Int) -> Void
            public let limit: Int = 10
            fileprivate var counter = 0
            extension Array where Element: Equatable {
                func unique() -> [Element] { [] }
            }
            extension Foo.Bar {}
            public macro Stringify(_ value: Int) = #externalMacro(module: "M", type: "S")
            """
        let facts = try #require(Support.facts("a.swift", source))
        #expect(
            Support.names(facts) == [
                "run", "Model", "Point", "Mode", "Shape", "Cache", "Handler", "limit", "counter", "Array", "Foo.Bar",
                "Stringify",
            ])
        #expect(Support.symbol(facts, "run")?.signature == "public func run(_ a: Int, b: String) async throws -> Int")
        #expect(Support.symbol(facts, "Model")?.signature == "final class Model: ObservableObject")
        #expect(Support.symbol(facts, "Model")?.line == 6)
        #expect(Support.symbol(facts, "Mode")?.exported == false)
        #expect(Support.symbol(facts, "counter")?.exported == false)
        #expect(Support.symbol(facts, "limit")?.signature == "public let limit: Int")
        #expect(Support.symbol(facts, "Handler")?.signature == "typealias Handler = (Int) -> Void")
        #expect(Support.symbol(facts, "Array")?.kind == "extension")
        #expect(Support.symbol(facts, "Array")?.signature == "extension Array where Element: Equatable")
        #expect(Support.symbol(facts, "Stringify")?.kind == "macro")
    }

    @Test func fingerprint() throws {
        let print = { (source: String) in Support.facts("m.swift", source)?.fingerprint }
        let base = "public func f(_ a: Int) -> Int { a }\nprivate func g() {}\n"
        let body = "public func f(_ a: Int) -> Int { a + 1 }\nprivate func g() { print(1) }\n"
        let comment = "/// Docs.\npublic func f(_ a: Int)\n    -> Int {\n    a\n}\n\nprivate func g() {}\n"
        let signature = "public func f(_ a: Int64) -> Int { a }\nprivate func g() {}\n"
        #expect(print(base) == print(body))
        #expect(print(base) == print(comment))
        #expect(print(base) != print(signature))
    }
}
