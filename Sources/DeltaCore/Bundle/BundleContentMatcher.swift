import Foundation

/// Turns the collected archive entries into a manifest and validated operations: strips the
/// optional wrapper directory, finds `manifest.json` at the root, rejects duplicates, decodes the
/// metadata, and checks every path, hash and piece of content the operations refer to.
struct BundleContentMatcher {
    let entries: [CollectedEntry]
    let limits: BundleLimits

    /// Metadata documents are small; cap them well below the per-file limit (100,000 operations
    /// of our client take about 25 MiB).
    static let maxMetadataBytes = 64 << 20

    func match() throws -> (manifest: BundleManifest, operations: [ValidatedOperation]) {
        let wrapper = Self.wrapperDirectory(entries.map(\.name))
        var manifestEntry: SpooledContent?
        var hashesEntry: SpooledContent?
        var operationsEntry: SpooledContent?
        var contents: [ContentKey: SpooledContent] = [:]
        // Sized once: grown entry by entry it was rehashed a dozen times for a bundle's 2,000.
        contents.reserveCapacity(entries.count)
        var unused: [SpooledContent] = []

        for entry in entries {
            var name = Substring(entry.name)
            if let wrapper {
                // Byte offsets: `/` is one byte, and the wrapper is a byte prefix of every name.
                if name.utf8.count == wrapper.utf8.count { continue }
                let bytes = entry.name.utf8
                name = Substring(
                    String(
                        decoding: bytes[bytes.index(bytes.startIndex, offsetBy: wrapper.utf8.count + 1)...],
                        as: UTF8.self)
                )
            }
            guard let content = entry.content else { continue }
            switch String(name) {
            case "manifest.json":
                try Self.setOnce(&manifestEntry, content, name)
            case "metadata/hashes.json":
                try Self.setOnce(&hashesEntry, content, name)
            case "metadata/operations.json":
                try Self.setOnce(&operationsEntry, content, name)
            default:
                if let key = ContentKey(name) {
                    guard content.bytes == nil else {
                        // `EntryCollector.isMetadataName` never matches content; refuse rather than trust it.
                        throw DeltaError(
                            .invalidTar, "bundle entry '\(PathRules.printable(String(name)))' was read as metadata")
                    }
                    guard contents.updateValue(content, forKey: key) == nil else {
                        throw DeltaError(
                            .duplicateEntry, "bundle contains '\(PathRules.printable(String(name)))' twice",
                            details: ["path": .string(String(name))]
                        )
                    }
                } else {
                    unused.append(content)
                }
            }
        }
        guard let manifestEntry else {
            throw DeltaError(.missingManifest, "bundle has no manifest.json at its root")
        }
        let manifest = try BundleManifest(jsonBytes: try Self.read(manifestEntry, what: "manifest.json"))
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
        // Every operation is work for the server whether or not it brings an entry, so
        // operations count against the same cap as entries.
        let document = try OperationsDocument(
            jsonBytes: try Self.read(operationsEntry, what: "metadata/operations.json"),
            maxOperations: limits.maxEntries
        )
        var hashes: [(path: String, hash: ContentHash)] = []
        if let hashesEntry {
            let pairs = try HashesDocument.fileHashes(
                jsonBytes: try Self.read(hashesEntry, what: "metadata/hashes.json"), maxEntries: limits.maxEntries
            )
            for (path, text) in pairs {
                hashes.append((path, try ContentHash(parsing: text)))
            }
        }

        var result: [ValidatedOperation] = []
        result.reserveCapacity(document.operations.count)
        // A SHA-1 the collector skipped (`EntryCollector.hashesSHA1`) is worked out for every
        // content a hash names by SHA-1, before the operations take their content.
        var namedBySHA1: [ContentKey] = []
        for (path, hash) in hashes where hash.algorithm == .sha1 {
            namedBySHA1 += [OperationKind.created, .updated, .moved].map { ContentKey(kind: $0, path: path) }
        }
        for operation in document.operations
        where operation.operation != .deleted && operation.contentHash?.algorithm == .sha1 {
            namedBySHA1.append(ContentKey(kind: operation.operation, path: operation.path))
        }
        for key in namedBySHA1 {
            if let content = contents[key], content.digest.sha1.isEmpty { contents[key] = try content.withSHA1() }
        }
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
        // A document read into memory has no path, and an anonymous file goes when it is dropped.
        for content in unused + [manifestEntry, operationsEntry] + (hashesEntry.map { [$0] } ?? [])
        where !content.path.isEmpty && content.anonymous == nil {
            unlink(content.path)
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
        // The first component, without splitting (an array per name was 0.5 % of a first push).
        func head(_ name: String) -> Substring.UTF8View {
            let bytes = name.utf8
            return Substring(name)[..<(bytes.firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex)].utf8
        }
        guard let first = names.first else { return nil }
        let candidate = head(first)
        guard !["files", "metadata", "manifest.json"].contains(where: { candidate.elementsEqual($0.utf8) }) else {
            return nil
        }
        for name in names where !head(name).elementsEqual(candidate) {
            return nil
        }
        return String(decoding: candidate, as: UTF8.self)
    }

    private static func setOnce(_ slot: inout SpooledContent?, _ value: SpooledContent, _ name: Substring) throws {
        guard slot == nil else {
            throw DeltaError(
                .duplicateEntry, "bundle contains '\(name)' twice", details: ["path": .string(String(name))])
        }
        slot = value
    }

    private static func read(_ content: SpooledContent, what: String) throws -> [UInt8] {
        guard content.digest.size <= maxMetadataBytes else {
            throw DeltaError(
                .fileTooLarge,
                "\(what) is \(content.digest.size) bytes; metadata is limited to \(maxMetadataBytes) bytes",
                details: ["limit_bytes": .int(Int64(maxMetadataBytes))]
            )
        }
        if let bytes = content.bytes { return bytes }
        return try FileSystem.readAll(content.path, limit: maxMetadataBytes)
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

/// `files/<kind>/<path>` → (kind, path), the path compared by bytes.
struct ContentKey: Hashable {
    var kind: OperationKind
    var path: PathKey

    init(kind: OperationKind, path: String) {
        self.kind = kind
        self.path = PathKey(path)
    }

    init?(_ name: Substring) {
        let parts = name.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].elementsEqual("files".utf8),
            let kind = OperationKind(rawValue: String(decoding: parts[1], as: UTF8.self)), kind != .deleted
        else { return nil }
        self.kind = kind
        self.path = PathKey(String(decoding: parts[2], as: UTF8.self))
    }
}
