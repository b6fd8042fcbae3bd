import DeltaGraph
import Testing

struct ExtractRustTests {
    typealias Support = ExtractTestSupport

    @Test func modulesAndUses() throws {
        let source = """
            #[cfg(test)]
            mod tests;
            pub mod api;
            mod inline {
                mod nested;
                use super::x as y;
            }
            use crate::a::b::{c, d::{e, f}, self};
            use std::io::*;
            pub(crate) use ::serde::Serialize;
            extern crate alloc;
            fn main() {
                use std::collections::HashMap;
            }
            """
        let facts = try #require(Support.facts("src/lib.rs", source))
        let mods = facts.imports.filter { $0.kind == .rustMod }.map(\.specifier)
        let uses = facts.imports.filter { $0.kind == .rustUse }.map(\.specifier)
        #expect(mods == ["tests", "api", "inline/nested"])
        #expect(
            uses == [
                "super::x", "crate::a::b::c", "crate::a::b::d::e", "crate::a::b::d::f", "crate::a::b", "std::io::*",
                "serde::Serialize", "alloc", "std::collections::HashMap",
            ])
    }

    @Test func literalsAndCommentsHideImports() throws {
        let source = ##"""
            /* outer /* nested */ mod hidden1; */
            // mod hidden2;
            /// use doc::comment;
            const S: &str = "mod hidden3; \" use x;";
            const R: &str = r##"use raw::string; "# still"##;
            const B: &[u8] = br##"mod hidden4;"##;
            const C: char = '"';
            const Q: char = '\'';
            fn lifetime<'a>(x: &'a str) -> &'static str { x }
            mod after;
            """##
        let facts = try #require(Support.facts("src/lib.rs", source))
        #expect(Support.specifiers(facts) == ["after"])
    }

    @Test func items() throws {
        let source = """
            #[derive(Debug)]
            pub struct Point<T> where T: Copy { x: T }
            pub(crate) enum Kind { A, B }
            union Bits { i: u32, f: f32 }
            pub trait Shape: Sized { fn area(&self) -> f64; }
            pub type Result<T> = std::result::Result<T, Error>;
            pub const MAX: usize = 10;
            static mut COUNTER: u32 = 0;
            pub async unsafe fn fetch<'a>(url: &'a str) -> Vec<u8> where 'a: 'static { vec![] }
            pub const fn new() -> Self { Self }
            extern "C" fn callback(x: i32) {}
            #[macro_export]
            macro_rules! my_macro { () => {} }
            impl Point<i32> { pub fn method(&self) {} }
            fn private() {}
            """
        let facts = try #require(Support.facts("src/lib.rs", source))
        #expect(
            Support.names(facts) == [
                "Point", "Kind", "Bits", "Shape", "Result", "MAX", "COUNTER", "fetch", "new", "callback", "my_macro",
                "private",
            ])
        #expect(Support.symbol(facts, "Point")?.signature == "pub struct Point<T>")
        #expect(Support.symbol(facts, "Point")?.kind == "struct")
        #expect(Support.symbol(facts, "Kind")?.exported == true)
        #expect(Support.symbol(facts, "Bits")?.exported == false)
        #expect(Support.symbol(facts, "Shape")?.kind == "trait")
        #expect(Support.symbol(facts, "Result")?.signature == "pub type Result<T> = std::result::Result<T, Error>")
        #expect(Support.symbol(facts, "MAX")?.signature == "pub const MAX: usize = 10")
        #expect(Support.symbol(facts, "fetch")?.signature == "pub async unsafe fn fetch<'a>(url: &'a str) -> Vec<u8>")
        #expect(Support.symbol(facts, "new")?.kind == "function")
        #expect(Support.symbol(facts, "my_macro")?.kind == "macro")
        #expect(Support.symbol(facts, "my_macro")?.exported == true)
        #expect(Support.symbol(facts, "private")?.exported == false)
    }

    @Test func fingerprint() throws {
        let print = { (source: String) in Support.facts("src/m.rs", source)?.fingerprint }
        let base = "pub fn f(a: u8) -> u8 { a }\nfn g() {}\n"
        let body = "pub fn f(a: u8) -> u8 { a + 1 }\nfn g() { let _ = 1; }\n"
        let comment = "/// Docs.\npub fn f(a: u8)\n    -> u8 {\n    a\n}\n\nfn g() {}\n"
        let signature = "pub fn f(a: u16) -> u8 { a }\nfn g() {}\n"
        #expect(print(base) == print(body))
        #expect(print(base) == print(comment))
        #expect(print(base) != print(signature))
    }
}
