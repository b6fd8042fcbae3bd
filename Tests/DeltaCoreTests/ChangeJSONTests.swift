import DeltaCore
import Foundation
import Testing

/// The change log's hand-written JSON: the bytes `JSONEncoder` writes for the server's replies,
/// and a reader that agrees with `JSONDecoder` on what the log holds (rows written by older
/// servers with Foundation's encoder included).
@Suite struct ChangeJSONTests {
    static func operations(_ paths: [String]) -> [ChangeOperation] {
        paths.enumerated().map { index, path in
            let hash = ContentHash(
                algorithm: index % 3 == 0 ? .sha1 : .sha256,
                hex: String(repeating: String(index % 16, radix: 16), count: index % 3 == 0 ? 40 : 64))
            switch index % 4 {
            case 0:
                return ChangeOperation(
                    operation: .created, path: path, sourcePath: nil, contentHash: hash, sizeBytes: Int64(index) * 7919,
                    mode: 0o644)
            case 1:
                return ChangeOperation(
                    operation: .updated, path: path, sourcePath: nil, contentHash: hash, sizeBytes: 0, mode: 0o755)
            case 2:
                return ChangeOperation(
                    operation: .deleted, path: path, sourcePath: nil, contentHash: nil, sizeBytes: nil)
            default:
                // A log entry from before modes were logged has none.
                return ChangeOperation(
                    operation: .moved, path: path, sourcePath: "from/" + path, contentHash: hash,
                    sizeBytes: Int64.max, mode: index % 8 == 3 ? nil : 0o644)
            }
        }
    }

    static var foundation: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static let plainPaths = (0..<40).map { "src/dir \($0)/f\($0).c" } + ["caf\u{E9}/na\u{EF}ve", "emoji/\u{1F600}.md"]

    @Test func writesTheBytesFoundationWrites() throws {
        let operations = Self.operations(Self.plainPaths + ["quote\"d", "back\\slash", "new\nline", "tab\there"])
        #expect(ChangeJSON.encode(operations) == Array(try Self.foundation.encode(operations)))
        #expect(ChangeJSON.encode([]) == Array("[]".utf8))

        let entry = ChangeEntry(
            sequence: 12, bundleID: "bundle \"x\"/1", appliedAt: "2026-12-02T05:00:00.123Z", operations: operations)
        #expect(ChangeJSON.encode(entry) == Array(try Self.foundation.encode(entry)))

        for hasMore in [false, true] {
            let page = ChangesResponse(
                workspace: "ws/one",
                changes: [entry, ChangeEntry(sequence: 13, bundleID: "b", appliedAt: "t", operations: [])],
                lastSequence: 40, hasMore: hasMore)
            #expect(ChangeJSON.encode(page) == Array(try Self.foundation.encode(page)))
            let empty = ChangesResponse(workspace: "ws", changes: [], lastSequence: 0, hasMore: hasMore)
            #expect(ChangeJSON.encode(empty) == Array(try Self.foundation.encode(empty)))
        }
    }

    @Test func awkwardPathsRoundTripThroughFoundation() throws {
        let operations = Self.operations(ManifestJSONTests.awkwardPaths)
        let written = ChangeJSON.encode(operations)
        #expect(try JSONDecoder().decode([ChangeOperation].self, from: Data(written)) == operations)
        #expect(try ChangeJSON.decodeOperations(written) == operations)
    }

    @Test(arguments: [false, true])
    func readsWhatFoundationWrote(pretty: Bool) throws {
        // Older servers stored the column with a plain `JSONEncoder`: slashes escaped as `\/`.
        let operations = Self.operations(Self.plainPaths + ManifestJSONTests.awkwardPaths)
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted] : []
        #expect(try ChangeJSON.decodeOperations(Array(try encoder.encode(operations))) == operations)
    }

    @Test func unknownKeysAreSkippedAndNullIsAbsent() throws {
        let text = """
            [ {"operation": "moved", "path": "a\\/b", "source_path": null, "future": {"x": [1, 2.5e3, null]},
               "content_hash": "SHA256:\(String(repeating: "A", count: 64))", "size_bytes": null, "mode": 493} ]
            """
        let ours = try ChangeJSON.decodeOperations(Array(text.utf8))
        #expect(ours == (try JSONDecoder().decode([ChangeOperation].self, from: Data(text.utf8))))
        #expect(ours.first?.path == "a/b")
        #expect(ours.first?.sourcePath == nil && ours.first?.sizeBytes == nil && ours.first?.mode == 0o755)
    }

    @Test(arguments: [
        #"[{"path":"a"}]"#,  // no operation
        #"[{"operation":"created"}]"#,  // no path
        #"[{"operation":"renamed","path":"a"}]"#,  // not a kind
        #"[{"operation":"created","path":"a","content_hash":"md5:00"}]"#,
        #"[{"operation":"created","path":"a"},]"#,
        #"[{"operation":"created","path":"a"}] x"#,
        #"{"operation":"created","path":"a"}"#,
        "",
    ])
    func rejectsWhatIsNotALogColumn(_ text: String) {
        #expect(throws: DeltaError.self) { try ChangeJSON.decodeOperations(Array(text.utf8)) }
    }

    @Test func everyTruncationIsRejected() {
        let written = ChangeJSON.encode(Self.operations(ManifestJSONTests.awkwardPaths))
        for length in 0..<written.count {
            #expect(throws: DeltaError.self, "a prefix of \(length) bytes") {
                try ChangeJSON.decodeOperations(Array(written.prefix(length)))
            }
        }
    }
}
