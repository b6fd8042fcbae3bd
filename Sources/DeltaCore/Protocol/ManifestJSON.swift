/// The manifest's JSON, written and read without `JSONEncoder`/`JSONDecoder`.
///
/// A manifest lists every file of a workspace: 100,000 entries are about 18 MB of JSON, which
/// Foundation's coders take most of a second each to write and to read while a mirror's
/// bootstrap waits. The document is the same (`{"files":[{"content_hash","mode","path",
/// "size_bytes"}],"sequence","workspace"}`, keys sorted as in the server's other replies).
public enum ManifestJSON {
    // MARK: - Writing

    /// The manifest as JSON bytes.
    public static func encode(_ manifest: ManifestResponse) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + manifest.files.count * 180)
        out.append(contentsOf: #"{"files":["#.utf8)
        for (index, file) in manifest.files.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"content_hash":""#.utf8)
            out.append(contentsOf: file.contentHash.algorithm.rawValue.utf8)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: file.contentHash.hex.utf8)
            out.append(contentsOf: #"","mode":"#.utf8)
            out.append(contentsOf: String(file.mode).utf8)
            out.append(contentsOf: #","path":"#.utf8)
            appendString(file.path, to: &out)
            out.append(contentsOf: #","size_bytes":"#.utf8)
            out.append(contentsOf: String(file.sizeBytes).utf8)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"sequence":"#.utf8)
        out.append(contentsOf: String(manifest.sequence).utf8)
        out.append(contentsOf: #","workspace":"#.utf8)
        appendString(manifest.workspace, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\uXXXX` (or their short
    /// forms), everything else as its UTF-8 bytes.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Nearly every path needs no escape: then its bytes are copied at once (a byte at a time
        // was 3 % of the client's CPU in a first push, writing operations.json).
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: - Reading

    /// The manifest in `bytes`, read with `JSONReader` one member at a time (no tree of values).
    /// Throws for a document that is not a manifest; unknown keys are skipped.
    public static func decode(_ bytes: [UInt8]) throws -> ManifestResponse {
        var reader = JSONReader(bytes, documentName: "manifest", errorCode: .invalidRequest, maxDepth: 64)
        var workspace: String?
        var sequence: Int64?
        var files: [ManifestFile]?
        try reader.readObject { reader, key in
            switch key {
            case "workspace": workspace = try reader.readValue().stringValue
            case "sequence": sequence = try reader.readValue().intValue
            case "files":
                var list: [ManifestFile] = []
                try reader.readArray { reader in list.append(try file(&reader)) }
                files = list
            default: try reader.skipValue()
            }
        }
        try reader.finish()
        guard let workspace, let sequence, let files else { throw missing("workspace, sequence and files") }
        return ManifestResponse(workspace: workspace, sequence: sequence, files: files)
    }

    private static func file(_ reader: inout JSONReader) throws -> ManifestFile {
        var path: String?
        var hash: ContentHash?
        var size: Int64?
        var mode: UInt32?
        try reader.readObject { reader, key in
            switch key {
            case "path": path = try reader.readValue().stringValue
            case "content_hash": hash = try reader.readValue().stringValue.map { try ContentHash(parsing: $0) }
            case "size_bytes": size = try reader.readValue().intValue
            case "mode": mode = try reader.readValue().intValue.flatMap { UInt32(exactly: $0) }
            default: try reader.skipValue()
            }
        }
        guard let path, let hash, let size, let mode else { throw missing("path, content_hash, size_bytes and mode") }
        return ManifestFile(path: path, contentHash: hash, sizeBytes: size, mode: mode)
    }

    private static func missing(_ keys: String) -> DeltaError {
        DeltaError(.invalidRequest, "a manifest must give \(keys) (as a string or an integer each)")
    }
}
