import Foundation

/// Turns the collected archive entries into a manifest and validated operations: strips the
/// optional wrapper directory, finds `manifest.json` at the root, rejects duplicates, decodes the
/// metadata, and checks every path, hash and piece of content the operations refer to.
struct BundleContentMatcher {
    let entries: [CollectedEntry]

    /// Metadata documents are small; cap them well below the per-file limit.
    static let maxMetadataBytes = 256 << 20

    func match() throws -> (manifest: BundleManifest, operations: [ValidatedOperation]) {
        let wrapper = Self.wrapperDirectory(entries.map(\.name))
        var manifestEntry: SpooledContent?
        var hashesEntry: SpooledContent?
        var operationsEntry: SpooledContent?
        var contents: [ContentKey: SpooledContent] = [:]
        var unused: [String] = []

        for entry in entries {
            var name = Substring(entry.name)
            if let wrapper {
                if name == wrapper { continue }
                name = name.dropFirst(wrapper.count + 1)
            }
            guard let content = entry.content else { continue }
            switch name {
            case "manifest.json":
                try Self.setOnce(&manifestEntry, content, name)
            case "metadata/hashes.json":
                try Self.setOnce(&hashesEntry, content, name)
            case "metadata/operations.json":
                try Self.setOnce(&operationsEntry, content, name)
            default:
                if let key = ContentKey(name) {
                    guard contents.updateValue(content, forKey: key) == nil else {
                        throw DeltaError(
                            .duplicateEntry, "bundle contains '\(PathRules.printable(String(name)))' twice",
                            details: ["path": .string(String(name))]
                        )
                    }
                } else {
                    unused.append(content.path)
                }
            }
        }
        guard let manifestEntry else {
            throw DeltaError(.missingManifest, "bundle has no manifest.json at its root")
        }
        let manifest: BundleManifest = try Self.decode(manifestEntry, what: "manifest.json", code: .invalidManifest)
        guard manifest.version == BundleManifest.currentVersion else {
            throw DeltaError(
                .unsupportedVersion,
                "bundle format version '\(manifest.version.prefix(40))' is not supported (expected \"1.0\")"
            )
        }
        try Self.validateBundleID(manifest.bundleID)
        guard let operationsEntry else {
            throw DeltaError(.invalidManifest, "bundle has no metadata/operations.json")
        }
        let document: OperationsDocument = try Self.decode(
            operationsEntry, what: "metadata/operations.json", code: .invalidOperation
        )
        var hashes: [String: ContentHash] = [:]
        if let hashesEntry {
            let doc: HashesDocument = try Self.decode(hashesEntry, what: "metadata/hashes.json", code: .invalidManifest)
            for (path, text) in doc.fileHashes {
                hashes[path] = try ContentHash(parsing: text)
            }
        }

        var result: [ValidatedOperation] = []
        result.reserveCapacity(document.operations.count)
        for (index, operation) in document.operations.enumerated() {
            result.append(try validate(operation, index: index, contents: contents))
        }
        for (path, hash) in hashes {
            for kind in [OperationKind.created, .updated, .moved] {
                if let content = contents[ContentKey(kind: kind, path: path)], !content.digest.matches(hash) {
                    throw Self.mismatch(
                        path: path, expected: hash, actual: content.digest, source: "metadata/hashes.json")
                }
            }
        }
        for path in unused + [manifestEntry.path, operationsEntry.path] + (hashesEntry.map { [$0.path] } ?? []) {
            unlink(path)
        }
        return (manifest, result)
    }

    private func validate(
        _ operation: BundleOperation, index: Int, contents: [ContentKey: SpooledContent]
    ) throws -> ValidatedOperation {
        try PathRules.validate(operation.path)
        var content: SpooledContent?
        switch operation.operation {
        case .created, .updated:
            guard let found = contents[ContentKey(kind: operation.operation, path: operation.path)] else {
                throw DeltaError(
                    .contentMissing,
                    "operation \(index) (\(operation.operation.rawValue) '\(PathRules.printable(operation.path))') "
                        + "has no files/\(operation.operation.rawValue)/\(PathRules.printable(operation.path)) entry",
                    details: ["path": .string(operation.path)]
                )
            }
            content = found
        case .moved:
            guard let source = operation.sourcePath else {
                throw DeltaError(
                    .invalidOperation,
                    "operation \(index) (moved '\(PathRules.printable(operation.path))') has no source_path"
                )
            }
            try PathRules.validate(source)
            content = contents[ContentKey(kind: .moved, path: operation.path)]
        case .deleted:
            break
        }
        if let content, let expected = operation.contentHash, !content.digest.matches(expected) {
            throw Self.mismatch(path: operation.path, expected: expected, actual: content.digest, source: "operations")
        }
        return ValidatedOperation(operation: operation, content: content)
    }

    // MARK: - Helpers

    /// A wrapper exists iff every entry shares a first component other than the layout's own names.
    static func wrapperDirectory(_ names: [String]) -> String? {
        guard let first = names.first else { return nil }
        let candidate = first.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard !["files", "metadata", "manifest.json"].contains(candidate) else { return nil }
        for name in names {
            let head = name.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if head != candidate { return nil }
        }
        return String(candidate)
    }

    private static func setOnce(_ slot: inout SpooledContent?, _ value: SpooledContent, _ name: Substring) throws {
        guard slot == nil else {
            throw DeltaError(
                .duplicateEntry, "bundle contains '\(name)' twice", details: ["path": .string(String(name))])
        }
        slot = value
    }

    private static func decode<T: Decodable>(_ content: SpooledContent, what: String, code: DeltaError.Code) throws -> T
    {
        let bytes = try FileSystem.readAll(content.path, limit: maxMetadataBytes)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DeltaError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            throw DeltaError(code, "\(what) is not valid: \(context.debugDescription) \(pathOf(context))")
        } catch let DecodingError.keyNotFound(key, context) {
            throw DeltaError(code, "\(what) is missing '\(key.stringValue)' \(pathOf(context))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw DeltaError(code, "\(what) has a field of the wrong type \(pathOf(context))")
        } catch {
            throw DeltaError(code, "\(what) is not valid JSON")
        }
    }

    private static func pathOf(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "" : "(at \(path))"
    }

    static func validateBundleID(_ id: String) throws {
        let bytes = Array(id.utf8)
        let ok =
            (1...128).contains(bytes.count)
            && bytes.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
        guard ok else {
            throw DeltaError(
                .invalidManifest, "bundle_id '\(PathRules.printable(id))' must be 1-128 characters of [A-Za-z0-9._-]")
        }
    }

    private static func mismatch(path: String, expected: ContentHash, actual: ContentDigest, source: String)
        -> DeltaError
    {
        let got = expected.algorithm == .sha1 ? "sha1:\(actual.sha1)" : "sha256:\(actual.sha256)"
        return DeltaError(
            .hashMismatch,
            "content of '\(PathRules.printable(path))' hashes to \(got), but \(source) says \(expected)",
            details: [
                "path": .string(path), "expected_hash": .string(expected.description), "actual_hash": .string(got),
            ]
        )
    }
}

/// `files/<kind>/<path>` → (kind, path).
struct ContentKey: Hashable {
    var kind: OperationKind
    var path: String

    init(kind: OperationKind, path: String) {
        self.kind = kind
        self.path = path
    }

    init?(_ name: Substring) {
        let parts = name.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "files", let kind = OperationKind(rawValue: String(parts[1])),
            kind != .deleted
        else { return nil }
        self.kind = kind
        self.path = String(parts[2])
    }
}
