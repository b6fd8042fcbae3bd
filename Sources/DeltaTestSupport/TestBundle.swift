import Crypto
public import DeltaCore
public import Foundation

/// Builds bundles byte by byte, including the malformed ones our writer never produces.
public struct TestBundle: Sendable {
    public struct Entry: Sendable {
        public var name: [UInt8]
        public var type: UInt8
        public var bytes: [UInt8]
        public var mode: UInt32
    }

    public var entries: [Entry] = []

    public init() {}

    public mutating func add(_ name: String, _ bytes: [UInt8], type: Character = "0", mode: UInt32 = 0o644) {
        entries.append(
            Entry(
                name: Array(name.utf8), type: UInt8(ascii: type.unicodeScalars.first ?? "0"), bytes: bytes, mode: mode))
    }

    public mutating func add(_ name: String, _ text: String) { add(name, Array(text.utf8)) }

    public mutating func addRaw(name: [UInt8], type: Character = "0", bytes: [UInt8] = []) {
        entries.append(
            Entry(name: name, type: UInt8(ascii: type.unicodeScalars.first ?? "0"), bytes: bytes, mode: 0o644))
    }

    /// `manifest.json` with the given id and version.
    public mutating func addManifest(
        bundleID: String, version: String = "1.0", sequence: Int64? = nil, prefix: String = ""
    ) {
        let sequenceText = sequence.map(String.init) ?? "null"
        add(
            prefix + "manifest.json",
            "{\"version\":\"\(version)\",\"bundle_id\":\"\(bundleID)\",\"sequence_number\":\(sequenceText)}")
    }

    /// `metadata/operations.json` from operations.
    public mutating func addOperations(_ operations: [BundleOperation], prefix: String = "") {
        let data = (try? JSONEncoder().encode(OperationsDocument(operations: operations))) ?? Data()
        add(prefix + "metadata/operations.json", Array(data))
    }

    /// The tar stream.
    public func tar() throws -> [UInt8] {
        var out: [UInt8] = []
        let writer = TarWriter { out.append(contentsOf: $0) }
        for entry in entries {
            try writer.addEntry(name: entry.name, type: entry.type, bytes: entry.bytes, mode: entry.mode)
        }
        try writer.finish()
        return out
    }

    /// The gzip'd tar stream.
    public func gzip() throws -> [UInt8] { try Gzip.compress(try tar()) }

    /// A valid bundle creating (or updating) `files` and deleting `deletes`, with sha256 hashes.
    public static func simple(
        bundleID: String = UUID().uuidString.lowercased(), files: [String: String] = [:],
        updates: [String: String] = [:],
        deletes: [String] = [], moves: [(from: String, to: String)] = [], sequence: Int64? = nil
    ) throws -> [UInt8] {
        var bundle = TestBundle()
        var operations: [BundleOperation] = []
        for (path, text) in files.sorted(by: { $0.key < $1.key }) {
            bundle.add("files/created/" + path, text)
            operations.append(
                BundleOperation(
                    operation: .created, path: path, contentHash: sha256(text), sizeBytes: Int64(text.utf8.count)))
        }
        for (path, text) in updates.sorted(by: { $0.key < $1.key }) {
            bundle.add("files/updated/" + path, text)
            operations.append(
                BundleOperation(
                    operation: .updated, path: path, contentHash: sha256(text), sizeBytes: Int64(text.utf8.count)))
        }
        for move in moves {
            operations.append(BundleOperation(operation: .moved, path: move.to, sourcePath: move.from))
        }
        for path in deletes {
            operations.append(BundleOperation(operation: .deleted, path: path))
        }
        bundle.addManifest(bundleID: bundleID, sequence: sequence)
        bundle.addOperations(operations)
        return try bundle.gzip()
    }

    public static func sha256(_ text: String) -> ContentHash { sha256(Array(text.utf8)) }

    public static func sha256(_ bytes: [UInt8]) -> ContentHash {
        ContentHash(algorithm: .sha256, hex: SHA256.hash(data: bytes).hexString)
    }

    public static func sha1(_ text: String) -> ContentHash {
        ContentHash(algorithm: .sha1, hex: Insecure.SHA1.hash(data: Array(text.utf8)).hexString)
    }
}

/// One-shot gzip for tests.
public enum Gzip {
    public static func compress(_ bytes: [UInt8], level: Int32 = 1) throws -> [UInt8] {
        var out: [UInt8] = []
        let deflater = try GzipDeflater(level: level)
        try bytes.withUnsafeBytes { raw in try deflater.feed(raw) { out.append(contentsOf: $0) } }
        try deflater.finish { out.append(contentsOf: $0) }
        return out
    }

    public static func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        let inflater = try GzipInflater()
        try bytes.withUnsafeBytes { raw in try inflater.feed(raw) { out.append(contentsOf: $0) } }
        try inflater.finish()
        return out
    }
}
