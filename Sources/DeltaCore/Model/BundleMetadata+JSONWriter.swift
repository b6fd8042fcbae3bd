// Encoding of the bundle's per-file JSON documents without `JSONEncoder`.
//
// A first push writes bundles of about 2,000 operations, and Foundation's encoder took about a
// tenth of the client's CPU writing their `operations.json` and `hashes.json`. The bytes are those
// `JSONEncoder` writes with `[.sortedKeys, .withoutEscapingSlashes]`: keys in order, an absent
// optional left out, numbers in decimal, strings escaped as `ManifestJSON.appendString` does.

extension OperationsDocument {
    /// `metadata/operations.json`.
    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(24 + operations.count * 200)
        out.append(contentsOf: #"{"operations":["#.utf8)
        for (index, operation) in operations.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            operation.appendJSON(to: &out)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}

extension BundleOperation {
    /// The operation as a JSON object, its keys sorted.
    func appendJSON(to out: inout [UInt8]) {
        var writer = JSONObjectWriter()
        if let contentHash { writer.string("content_hash", contentHash.description, to: &out) }
        if let language { writer.string("language", language, to: &out) }
        if let mode { writer.number("mode", String(mode), to: &out) }
        if let modifiedTime { writer.string("modified_time", modifiedTime, to: &out) }
        writer.string("operation", operation.rawValue, to: &out)
        writer.string("path", path, to: &out)
        if let previousHash { writer.string("previous_hash", previousHash, to: &out) }
        if let sizeBytes { writer.number("size_bytes", String(sizeBytes), to: &out) }
        if let sourcePath { writer.string("source_path", sourcePath, to: &out) }
        writer.close(&out)
    }
}

extension HashesDocument {
    /// `metadata/hashes.json`, `file_hashes` in the byte order of its paths.
    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + fileHashes.count * 160)
        out.append(contentsOf: #"{"file_hashes":{"#.utf8)
        let pairs = fileHashes.sorted { PathKey.compare($0.key, $1.key) < 0 }
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            ManifestJSON.appendString(pair.key, to: &out)
            out.append(UInt8(ascii: ":"))
            ManifestJSON.appendString(pair.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        if let updatedAt {
            out.append(contentsOf: #","updated_at":"#.utf8)
            ManifestJSON.appendString(updatedAt, to: &out)
        }
        if let workspacePath {
            out.append(contentsOf: #","workspace_path":"#.utf8)
            ManifestJSON.appendString(workspacePath, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// JSON text for a list of strings (a pending bundle's paths in the client's state).
public enum JSONStrings {
    public static func encode(_ strings: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 + strings.reduce(0) { $0 + $1.utf8.count + 3 })
        out.append(UInt8(ascii: "["))
        for (index, string) in strings.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            ManifestJSON.appendString(string, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}

/// Writes the members of one JSON object in the order given (the caller's, sorted).
private struct JSONObjectWriter {
    private var separator = UInt8(ascii: "{")

    mutating func key(_ name: StaticString, to out: inout [UInt8]) {
        out.append(separator)
        separator = UInt8(ascii: ",")
        out.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: #"":"#.utf8)
    }

    mutating func string(_ name: StaticString, _ value: String, to out: inout [UInt8]) {
        key(name, to: &out)
        ManifestJSON.appendString(value, to: &out)
    }

    mutating func number(_ name: StaticString, _ digits: String, to out: inout [UInt8]) {
        key(name, to: &out)
        out.append(contentsOf: digits.utf8)
    }

    /// Ends the object (`{}` when it had no member).
    func close(_ out: inout [UInt8]) {
        if separator == UInt8(ascii: "{") { out.append(separator) }
        out.append(UInt8(ascii: "}"))
    }
}
