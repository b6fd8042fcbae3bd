import DeltaCore
import Foundation
import Testing

/// The bundle's `operations.json` and `hashes.json` as the writer makes them without
/// `JSONEncoder`: Foundation's bytes, and documents the server's reader and `JSONDecoder` read
/// back unchanged.
@Suite struct BundleMetadataJSONTests {
    /// The change log's test operations with the advisory fields added: every field of an
    /// operation is present in some and absent in others.
    static func operations(_ paths: [String]) -> [BundleOperation] {
        ChangeJSONTests.operations(paths).enumerated().map { index, change in
            BundleOperation(
                operation: change.operation, path: change.path, sourcePath: change.sourcePath,
                contentHash: change.contentHash, previousHash: index % 4 == 1 ? "sha256:" + change.path : nil,
                sizeBytes: change.sizeBytes, mode: change.mode,
                modifiedTime: index % 4 == 0 ? "2026-12-02T12:00:00Z" : nil,
                language: index % 4 == 0 ? "c" : index % 4 == 3 ? "l\u{E4}ng \"q\"" : nil)
        }
    }

    static let paths =
        ChangeJSONTests.plainPaths + ["quote\"d", "back\\slash", "new\nline", "tab\there", "bell\u{07}", "del\u{7F}"]

    @Test func operationsAreTheBytesFoundationWrites() throws {
        for document in [
            OperationsDocument(operations: Self.operations(Self.paths)), OperationsDocument(operations: []),
        ] {
            #expect(document.jsonBytes() == Array(try ChangeJSONTests.foundation.encode(document)))
        }
    }

    @Test func hashesAreTheBytesFoundationWrites() throws {
        var hashes: [String: String] = [:]
        for (index, path) in Self.paths.enumerated() { hashes[path] = "sha256:\(index)" }
        for document in [
            HashesDocument(
                workspacePath: "/home/a/ws \"1\"", updatedAt: "2026-12-02T12:00:00.000Z", fileHashes: hashes),
            HashesDocument(workspacePath: nil, updatedAt: nil, fileHashes: hashes),
            HashesDocument(workspacePath: "/w", updatedAt: nil, fileHashes: [:]),
        ] {
            #expect(document.jsonBytes() == Array(try ChangeJSONTests.foundation.encode(document)))
        }
    }

    @Test func awkwardPathsRoundTrip() throws {
        let paths = ManifestJSONTests.awkwardPaths + ["\u{1F600}/\u{E9}", "z", "Z", "a/b"]
        let operations = OperationsDocument(operations: Self.operations(paths))
        let written = operations.jsonBytes()
        #expect(try JSONDecoder().decode(OperationsDocument.self, from: Data(written)) == operations)
        #expect(try OperationsDocument(jsonBytes: written, maxOperations: 1000) == operations)

        let hashes = HashesDocument(
            workspacePath: "/ws", updatedAt: "t",
            fileHashes: Dictionary(uniqueKeysWithValues: paths.map { ($0, "sha1:" + $0) }))
        #expect(try JSONDecoder().decode(HashesDocument.self, from: Data(hashes.jsonBytes())) == hashes)
        let read = try HashesDocument.fileHashes(jsonBytes: hashes.jsonBytes(), maxEntries: 1000)
        #expect(Dictionary(uniqueKeysWithValues: read.map { ($0.path, $0.hash) }) == hashes.fileHashes)

        #expect(try JSONDecoder().decode([String].self, from: Data(JSONStrings.encode(paths))) == paths)
        #expect(JSONStrings.encode([]) == Array("[]".utf8))
    }
}
