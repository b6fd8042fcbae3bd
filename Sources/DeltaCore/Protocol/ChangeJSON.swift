/// The change log's operations as JSON, written and read without `JSONEncoder`/`JSONDecoder`.
///
/// A first push commits a bundle of about 2,000 operations at a time, and Foundation's encoder
/// took most of the commit's CPU (while the workspace's next bundle waited for it). The bytes are
/// the ones `JSONEncoder` writes with `[.sortedKeys, .withoutEscapingSlashes]`: the keys in
/// order, an absent optional left out, numbers in decimal.
public enum ChangeJSON {
    // MARK: - Writing

    /// The operations as a JSON array.
    public static func encode(_ operations: [ChangeOperation]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 + operations.count * 160)
        append(operations, to: &out)
        return out
    }

    /// A page of the log (`GET …/changes`).
    public static func encode(_ response: ChangesResponse) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + response.changes.reduce(0) { $0 + 96 + $1.operations.count * 160 })
        out.append(contentsOf: #"{"changes":["#.utf8)
        for (index, entry) in response.changes.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            append(entry, to: &out)
        }
        out.append(contentsOf: #"],"delta":"#.utf8)
        out.append(contentsOf: (response.delta ? "true" : "false").utf8)
        out.append(contentsOf: #","has_more":"#.utf8)
        out.append(contentsOf: (response.hasMore ? "true" : "false").utf8)
        out.append(contentsOf: #","last_sequence":"#.utf8)
        out.append(contentsOf: String(response.lastSequence).utf8)
        out.append(contentsOf: #","workspace":"#.utf8)
        ManifestJSON.appendString(response.workspace, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// One log entry as a JSON object (the `data:` of a stream event).
    public static func encode(_ entry: ChangeEntry) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + entry.operations.count * 160)
        append(entry, to: &out)
        return out
    }

    static func append(_ entry: ChangeEntry, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"applied_at":"#.utf8)
        ManifestJSON.appendString(entry.appliedAt, to: &out)
        out.append(contentsOf: #","bundle_id":"#.utf8)
        ManifestJSON.appendString(entry.bundleID, to: &out)
        out.append(contentsOf: #","operations":"#.utf8)
        append(entry.operations, to: &out)
        out.append(contentsOf: #","sequence":"#.utf8)
        out.append(contentsOf: String(entry.sequence).utf8)
        out.append(UInt8(ascii: "}"))
    }

    static func append(_ operations: [ChangeOperation], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (index, operation) in operations.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            // Keys sorted: content_hash, mode, operation, path, size_bytes, source_path.
            var separator = UInt8(ascii: "{")
            func key(_ name: StaticString) {
                out.append(separator)
                separator = UInt8(ascii: ",")
                out.append(UInt8(ascii: "\""))
                name.withUTF8Buffer { out.append(contentsOf: $0) }
                out.append(contentsOf: #"":"#.utf8)
            }
            if let hash = operation.contentHash {
                key("content_hash")
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: hash.algorithm.rawValue.utf8)
                out.append(UInt8(ascii: ":"))
                out.append(contentsOf: hash.hex.utf8)
                out.append(UInt8(ascii: "\""))
            }
            if let mode = operation.mode {
                key("mode")
                out.append(contentsOf: String(mode).utf8)
            }
            key("operation")
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: operation.operation.rawValue.utf8)
            out.append(UInt8(ascii: "\""))
            key("path")
            ManifestJSON.appendString(operation.path, to: &out)
            if let size = operation.sizeBytes {
                key("size_bytes")
                out.append(contentsOf: String(size).utf8)
            }
            if let source = operation.sourcePath {
                key("source_path")
                ManifestJSON.appendString(source, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    // MARK: - Reading

    /// The operations of a JSON array, read with `JSONReader` one member at a time. Unknown keys
    /// are skipped and `null` is an absent value, as `JSONDecoder` reads them.
    public static func decodeOperations(_ bytes: [UInt8]) throws -> [ChangeOperation] {
        var reader = JSONReader(bytes, documentName: "change log", errorCode: .internalError, maxDepth: 64)
        var operations: [ChangeOperation] = []
        try reader.readArray { reader in operations.append(try operation(&reader)) }
        try reader.finish()
        return operations
    }

    private static func operation(_ reader: inout JSONReader) throws -> ChangeOperation {
        var kind: OperationKind?
        var path: String?
        var source: String?
        var hash: ContentHash?
        var size: Int64?
        var mode: UInt32?
        try reader.readObject { reader, key in
            let value = try reader.readValue()
            switch key {
            case "operation": kind = value.stringValue.flatMap(OperationKind.init(rawValue:))
            case "path": path = value.stringValue
            case "source_path": source = value.stringValue
            case "content_hash": hash = try value.stringValue.map { try ContentHash(parsing: $0) }
            case "size_bytes": size = value.intValue
            case "mode": mode = value.intValue.flatMap { UInt32(exactly: $0) }
            default: break
            }
        }
        guard let kind, let path else {
            throw DeltaError(.internalError, "a change-log operation must give operation and path")
        }
        return ChangeOperation(
            operation: kind, path: path, sourcePath: source, contentHash: hash, sizeBytes: size, mode: mode)
    }
}
