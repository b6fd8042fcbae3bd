/// The incrementally maintained code graph of a workspace (DESIGN §5, §8 "Graph details"):
/// files and the symbols they define, resolved imports, interface fingerprints for early cutoff.
/// Pure: no I/O and no server types, so the extractors, the resolver and the graph can be tested
/// (and benchmarked) on their own.
public enum DeltaGraph {
    /// Version of the graph's data model, bumped when extraction or resolution changes; a
    /// persisted graph of another version is rebuilt from the file table.
    public static let modelVersion = 1
    /// Files larger than this get edges but no symbols (DESIGN §8).
    public static let maxSymbolFileSize = 4 << 20
}

/// A source language the graph understands, chosen by extension with a shebang fallback.
public enum Language: String, Sendable, Hashable, Codable, CaseIterable {
    case c
    case cpp
    case python
    case javascript
    case typescript
    case go
    case rust
    case swift
    case java
}

/// How an import is written, which decides how it resolves.
public enum ImportKind: String, Sendable, Hashable, Codable {
    /// C/C++ `#include "x"`: relative to the including file first, then the include directories.
    case quoted
    /// C/C++ `#include <x>`: the include directories only.
    case angle
    /// A module specifier: Python `import a.b` / `from ..a import b`, a JS/TS `from "x"`, a Go
    /// import path, a Swift module, a Java `a.b.C` / `a.b.*`.
    case module
    /// Rust `mod name;` (a file of the module tree).
    case rustMod
    /// Rust `use` path, one per leaf (`crate::a::b`, `super::x`, `self::y`, `std::io`).
    case rustUse
}

/// One import as written in a file.
public struct ImportSpec: Sendable, Hashable, Codable {
    public var specifier: String
    public var kind: ImportKind
    /// 1-based line of the import.
    public var line: Int
    /// Python `from X import a, b` names (`["*"]` for a star import); Java `["static"]` for a
    /// static import; empty otherwise.
    public var names: [String]

    public init(specifier: String, kind: ImportKind, line: Int, names: [String] = []) {
        self.specifier = specifier
        self.kind = kind
        self.line = line
        self.names = names
    }
}

/// A top-level definition of a file.
public struct Symbol: Sendable, Hashable, Codable {
    public var name: String
    /// `function`, `declaration`, `struct`, `union`, `enum`, `typedef`, `macro`, `class`,
    /// `interface`, `type`, `variable`, `constant`, `trait`, `protocol`, `method`, …
    public var kind: String
    /// 1-based line of the definition.
    public var line: Int
    /// The declaration with whitespace collapsed to single spaces and without the body, e.g.
    /// `int foo(int a, char *b)`, `def f(a, b=1)`, `#define MAX(a, b)`.
    public var signature: String
    /// Whether another file can use it (part of the interface fingerprint).
    public var exported: Bool

    public init(name: String, kind: String, line: Int, signature: String, exported: Bool = true) {
        self.name = name
        self.kind = kind
        self.line = line
        self.signature = signature
        self.exported = exported
    }
}

/// What extraction finds in one file.
public struct FileFacts: Sendable, Hashable, Codable {
    public var language: Language
    public var imports: [ImportSpec]
    public var symbols: [Symbol]
    /// Hex digest of the file's interface: a C/C++ header's token stream without comments;
    /// otherwise its exported definitions and their signatures (and a C file's macros). Line
    /// numbers never count.
    public var fingerprint: String
    /// Java `package a.b;`, Go `package x`; nil otherwise.
    public var package: String?

    public init(
        language: Language, imports: [ImportSpec], symbols: [Symbol], fingerprint: String, package: String? = nil
    ) {
        self.language = language
        self.imports = imports
        self.symbols = symbols
        self.fingerprint = fingerprint
        self.package = package
    }
}

/// 64-bit FNV-1a, for fingerprints (not a security boundary: a collision only costs a missed
/// invalidation of an interface that changed in exactly the colliding way).
public struct Fingerprinter: Sendable {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= UInt64(byte)
            state &*= 0x0000_0100_0000_01b3
        }
    }

    public mutating func add(_ text: String) {
        add(text.utf8)
        add(CollectionOfOne(0))
    }

    public var hex: String { Self.hex(state) }

    /// A 64-bit fingerprint as its 16 lowercase hex digits.
    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
