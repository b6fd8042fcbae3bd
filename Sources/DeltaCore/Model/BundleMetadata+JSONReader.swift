// Decoding of the bundle's JSON documents with `JSONReader`: linear time, bounded depth, and
// the operation count checked while the array is read. The lenient field rules are those of the
// `Codable` initialisers (existing clients fill several fields loosely).

extension BundleManifest {
    /// Decodes `manifest.json`.
    public init(jsonBytes bytes: [UInt8]) throws {
        let name = "manifest.json"
        guard case .object(let fields) = try JSONReader.parse(bytes, documentName: name, errorCode: .invalidManifest)
        else {
            throw DeltaError(.invalidManifest, "\(name) must be a JSON object")
        }
        guard case .string(let version)? = fields["version"] else {
            throw DeltaError(.invalidManifest, "\(name) is missing 'version' (a string)")
        }
        guard case .string(let bundleID)? = fields["bundle_id"] else {
            throw DeltaError(.invalidManifest, "\(name) is missing 'bundle_id' (a string)")
        }
        self.init(
            bundleID: bundleID, workspacePath: fields["workspace_path"]?.stringValue,
            collectionName: fields["collection_name"]?.stringValue, createdAt: fields["created_at"]?.stringValue ?? "",
            sequenceNumber: fields["sequence_number"]?.intValue, parentSequence: fields["parent_sequence"]?.intValue,
            operations: fields["operations"].map(OperationCounts.init(lenient:)) ?? OperationCounts(),
            totalFiles: fields["total_files"]?.intValue.flatMap { Int(exactly: $0) } ?? 0,
            totalSizeBytes: fields["total_size_bytes"]?.intValue ?? 0
        )
        self.version = version
        if fields["created_at"]?.stringValue == nil { createdAt = nil }
        if fields["operations"] == nil { operations = nil }
        if fields["total_files"]?.intValue == nil { totalFiles = nil }
        if fields["total_size_bytes"]?.intValue == nil { totalSizeBytes = nil }
        compression = fields["compression"]?.stringValue
        encoding = fields["encoding"]?.stringValue
    }
}

extension OperationCounts {
    /// Counts from a JSON value; anything that is not a whole number reads as 0 (or absent).
    init(lenient value: JSONValue) {
        guard case .object(let fields) = value else {
            self.init()
            return
        }
        func count(_ key: String) -> Int? { fields[key]?.intValue.flatMap { Int(exactly: $0) } }
        self.init(
            created: count("created") ?? 0, updated: count("updated") ?? 0, deleted: count("deleted") ?? 0,
            moved: count("moved") ?? 0, skipped: count("skipped"), failed: count("failed")
        )
    }
}

extension OperationsDocument {
    /// Decodes `metadata/operations.json`, refusing more than `maxOperations` operations as soon
    /// as the array holds one too many (`TOO_MANY_ENTRIES`), before the rest is read.
    public init(jsonBytes bytes: [UInt8], maxOperations: Int) throws {
        let name = "metadata/operations.json"
        var reader = JSONReader(bytes, documentName: name, errorCode: .invalidOperation)
        var operations: [BundleOperation]?
        try reader.readObject { reader, key in
            guard key == "operations" else {
                try reader.skipValue()
                return
            }
            var list: [BundleOperation] = []
            try reader.readArray { reader in
                guard list.count < maxOperations else {
                    throw DeltaError(
                        .tooManyEntries, "\(name) has more than \(maxOperations) operations",
                        details: ["limit": .int(Int64(maxOperations))]
                    )
                }
                list.append(try BundleOperation(reading: &reader, index: list.count))
            }
            operations = list
        }
        try reader.finish()
        guard let operations else { throw DeltaError(.invalidOperation, "\(name) is missing 'operations'") }
        self.init(operations: operations)
    }
}

extension BundleOperation {
    /// The members of an operation object that mean something, the last of each name (as a
    /// decoded dictionary would hold it); any other member is checked and skipped. Read member by
    /// member: a dictionary per operation was most of the document's decoding, 2 % of the
    /// server's CPU in a first push.
    struct Fields {
        static let names = [
            "operation", "path", "source_path", "content_hash", "previous_hash", "size_bytes", "mode",
            "modified_time", "language",
        ]
        private var values = [JSONValue?](repeating: nil, count: names.count)

        subscript(key: String) -> JSONValue? { Self.names.firstIndex(of: key).flatMap { values[$0] } }

        /// Reads the member named `key` if it is one of these (true), else leaves it (false).
        mutating func read(_ key: String, from reader: inout JSONReader) throws -> Bool {
            guard let index = Self.names.firstIndex(of: key) else { return false }
            values[index] = try reader.readValue()
            return true
        }
    }

    /// Decodes the next value of `reader` as one operation; `index` names it in messages.
    init(reading reader: inout JSONReader, index: Int) throws {
        guard reader.nextIsObject else {
            _ = try reader.readValue()
            throw DeltaError(.invalidOperation, "operation \(index) must be a JSON object")
        }
        var fields = Fields()
        try reader.readObject { reader, key in
            if try !fields.read(key, from: &reader) { try reader.skipValue() }
        }
        try self.init(fields: fields, index: index)
    }

    /// Checks and decodes the members of one operation.
    init(fields: Fields, index: Int) throws {
        func string(_ key: String, required: Bool) throws -> String? {
            switch fields[key] {
            case .string(let text)?: return text
            case nil, .null?:
                if required { throw DeltaError(.invalidOperation, "operation \(index) is missing '\(key)'") }
                return nil
            default: throw DeltaError(.invalidOperation, "operation \(index): '\(key)' must be a string")
            }
        }
        let kind = try string("operation", required: true) ?? ""
        guard let operation = OperationKind(rawValue: kind) else {
            throw DeltaError(
                .invalidOperation,
                "unknown operation '\(PathRules.printable(String(kind.prefix(40))))' (expected created, updated, deleted or moved)"
            )
        }
        let path = try string("path", required: true) ?? ""
        let sourcePath = try string("source_path", required: false)
        let contentHash = try string("content_hash", required: false).map { try ContentHash(parsing: $0) }
        var sizeBytes: Int64?
        if let size = fields["size_bytes"]?.intValue {
            guard size >= 0 else {
                throw DeltaError(.invalidOperation, "operation \(index): 'size_bytes' must not be negative")
            }
            sizeBytes = size
        }
        var mode: UInt32?
        switch fields["mode"] {
        case .int(let value)?:
            mode = try Self.checkedMode(value, index: index)
        case .string(let text)?:
            mode = try Int64(text, radix: 8).map { try Self.checkedMode($0, index: index) }
        default:
            mode = nil
        }
        self.init(
            operation: operation, path: path, sourcePath: sourcePath, contentHash: contentHash,
            previousHash: fields["previous_hash"]?.stringValue, sizeBytes: sizeBytes, mode: mode,
            modifiedTime: fields["modified_time"]?.stringValue, language: fields["language"]?.stringValue
        )
    }

    /// POSIX mode bits fit in 0o177777 (file type and permissions); anything else is not a mode.
    static func checkedMode(_ value: Int64, index: Int) throws -> UInt32 {
        guard (0...0o177777).contains(value) else {
            throw DeltaError(.invalidOperation, "operation \(index): 'mode' \(value) is not a file mode")
        }
        return UInt32(value)
    }
}

extension HashesDocument {
    /// The `file_hashes` pairs of `metadata/hashes.json`, in document order (a list, not a
    /// dictionary: two keys that differ only in Unicode normalisation are two paths).
    public static func fileHashes(jsonBytes bytes: [UInt8], maxEntries: Int) throws -> [(path: String, hash: String)] {
        let name = "metadata/hashes.json"
        var reader = JSONReader(bytes, documentName: name, errorCode: .invalidManifest)
        var hashes: [(path: String, hash: String)] = []
        try reader.readObject { reader, key in
            switch key {
            case "file_hashes":
                if try reader.readNullIfPresent() { return }
                try reader.readObject { reader, path in
                    guard hashes.count < maxEntries else {
                        throw DeltaError(
                            .tooManyEntries, "\(name) lists more than \(maxEntries) files",
                            details: ["limit": .int(Int64(maxEntries))]
                        )
                    }
                    guard case .string(let hash) = try reader.readValue() else {
                        throw DeltaError(.invalidManifest, "\(name): the hash of a file must be a string")
                    }
                    hashes.append((path, hash))
                }
            default:
                try reader.skipValue()
            }
        }
        try reader.finish()
        return hashes
    }
}
