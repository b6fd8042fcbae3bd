/// Interface fingerprints built from symbols: line numbers and order never count, so moving a
/// definition or editing a body keeps the fingerprint.
enum SymbolFingerprint {
    /// Hash of the exported symbols' (kind, name, signature), sorted by their bytes, after the
    /// package name when there is one.
    static func of(_ symbols: [Symbol], package: String? = nil) -> String {
        var entries: [[UInt8]] = []
        entries.reserveCapacity(symbols.count)
        for symbol in symbols where symbol.exported {
            var entry = Array(symbol.kind.utf8)
            entry.append(0)
            entry.append(contentsOf: symbol.name.utf8)
            entry.append(0)
            entry.append(contentsOf: symbol.signature.utf8)
            entry.append(0)
            entries.append(entry)
        }
        entries.sort { $0.lexicographicallyPrecedes($1) }
        var hasher = Fingerprinter()
        if let package {
            hasher.add("package")
            hasher.add(package)
        }
        for entry in entries { hasher.add(entry) }
        return hasher.hex
    }

    /// For files too large for symbols: the imports (in order) and the size.
    static func of(_ imports: [ImportSpec], size: Int, package: String? = nil) -> String {
        var hasher = Fingerprinter()
        hasher.add("size \(size)")
        if let package { hasher.add(package) }
        for spec in imports {
            hasher.add(spec.kind.rawValue)
            hasher.add(spec.specifier)
            for name in spec.names { hasher.add(name) }
        }
        return hasher.hex
    }
}
