import DeltaCore
import Foundation
import Testing

/// The bundle metadata parser: the JSON grammar, the depth limit, and decoding that agrees with
/// Foundation's on every document it accepts.
@Suite struct JSONReaderTests {
    static func parse(_ text: String, maxDepth: Int = 32) throws -> JSONValue {
        try JSONReader.parse(Array(text.utf8), documentName: "doc", errorCode: .invalidManifest, maxDepth: maxDepth)
    }

    @Test(arguments: [
        "{}", "[]", "null", "true", "false", "0", "-0", "12", "-9223372036854775808", "9223372036854775808", "1.5e3",
        "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\\u00e9\\ud83d\\ude00\"", "\"caf\u{e9}\"",
        "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", " \n\t[ 1 , 2 ] \r\n",
    ])
    func agreesWithFoundation(_ text: String) throws {
        let ours = try Self.parse(text)
        let theirs = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == theirs)
    }

    @Test(arguments: [
        "", "[", "]", "{\"a\"}", "{\"a\":}", "{a:1}", "[1,]", "[1 2]", "01", "1.", ".5", "1e", "--1", "+1", "tru",
        "nul",
        "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"", "\"\\udc00\"", "\"tab\there\"", "1e400", "[1] x", "NaN",
        "\"\\u12\"",
    ])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(throws: DeltaError.self) { try Self.parse(text) }
    }

    @Test func rejectsInvalidUTF8InStrings() {
        #expect(throws: DeltaError.self) {
            try JSONReader.parse([0x22, 0xFF, 0xFE, 0x22], documentName: "doc", errorCode: .invalidManifest)
        }
    }

    @Test func depthIsLimited() throws {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        _ = try Self.parse(ok)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        let error = try #require(throws: DeltaError.self) { try Self.parse(deep) }
        #expect(error.message.contains("nesting deeper than 32"))
        // Deep nesting inside a skipped value is limited the same way.
        let operations =
            "{\"ignored\":\(String(repeating: "{\"a\":", count: 40))1\(String(repeating: "}", count: 40)),\"operations\":[]}"
        #expect(throws: DeltaError.self) {
            try OperationsDocument(jsonBytes: Array(operations.utf8), maxOperations: 10)
        }
    }

    @Test func operationsStopAtTheLimitBeforeTheRestIsRead() throws {
        let op = "{\"operation\":\"deleted\",\"path\":\"p\"}"
        let text = "{\"operations\":[\(Array(repeating: op, count: 11).joined(separator: ",")),BROKEN"
        let error = try #require(throws: DeltaError.self) {
            try OperationsDocument(jsonBytes: Array(text.utf8), maxOperations: 10)
        }
        #expect(error.code == .tooManyEntries)
        let ten = "{\"operations\":[\(Array(repeating: op, count: 10).joined(separator: ","))]}"
        #expect(try OperationsDocument(jsonBytes: Array(ten.utf8), maxOperations: 10).operations.count == 10)
    }

    @Test func operationFieldsAreCheckedAndLenientWhereClientsDiffer() throws {
        let text = """
            {"operations":[{"operation":"created","path":"a","content_hash":"sha256:\(String(repeating: "a", count: 64))",
            "size_bytes":"12","mode":"755","file_hash":{"x":1},"language":7},
            {"operation":"moved","path":"b","source_path":"a","mode":33261}]}
            """
        let document = try OperationsDocument(jsonBytes: Array(text.utf8), maxOperations: 10)
        #expect(document.operations[0].sizeBytes == 12)
        #expect(document.operations[0].mode == 0o755)
        #expect(document.operations[0].language == nil)
        #expect(document.operations[1].mode == 0o100755)
        for bad in [
            "{\"operations\":[{\"operation\":\"created\",\"path\":\"a\",\"mode\":-1}]}",
            "{\"operations\":[{\"operation\":\"created\",\"path\":\"a\",\"mode\":4294967296}]}",
            "{\"operations\":[{\"operation\":\"created\",\"path\":\"a\",\"size_bytes\":-1}]}",
            "{\"operations\":[{\"operation\":\"created\",\"path\":7}]}",
            "{\"operations\":[{\"operation\":\"renamed\",\"path\":\"a\"}]}",
            "{\"operations\":{}}", "{}", "[]",
        ] {
            #expect(throws: DeltaError.self, "\(bad)") {
                try OperationsDocument(jsonBytes: Array(bad.utf8), maxOperations: 10)
            }
        }
    }

    /// Operations are read member by member (`BundleOperation.Fields`), not through a
    /// dictionary: the answer must be what the dictionary gave — the last of a repeated member,
    /// unknown members of any shape skipped but still checked.
    @Test func operationsReadMemberByMemberAsADictionaryHeldThem() throws {
        func decode(_ operation: String) throws -> BundleOperation {
            let document = try OperationsDocument(
                jsonBytes: Array("{\"operations\":[\(operation)]}".utf8), maxOperations: 10)
            return try #require(document.operations.first)
        }
        // The last of a repeated member wins, even over a first one of the wrong type.
        let repeated = try decode("{\"path\":7,\"operation\":\"deleted\",\"path\":\"a\",\"path\":\"b\"}")
        #expect(repeated.path == "b")
        #expect(repeated.operation == .deleted)
        #expect(throws: DeltaError.self) { try decode("{\"operation\":\"deleted\",\"path\":\"a\",\"path\":7}") }
        // Unknown members, nested or not, are skipped; null optional members are absent.
        let skipped = try decode(
            "{\"x\":{\"y\":[1,{\"z\":null}]},\"operation\":\"moved\",\"path\":\"b\",\"source_path\":\"a\","
                + "\"content_hash\":null,\"previous_hash\":\"p\",\"w\":[true,false]}")
        #expect(skipped.sourcePath == "a")
        #expect(skipped.contentHash == nil)
        #expect(skipped.previousHash == "p")
        // A member that is not valid JSON is refused wherever it is, known or not.
        for bad in [
            "{\"operation\":\"deleted\",\"path\":\"a\",\"x\":[1,}", "{\"operation\":\"deleted\",\"path\":\"a\",\"mode\":01}",
            "{\"operation\":\"deleted\" \"path\":\"a\"}",
        ] {
            let error = try #require(throws: DeltaError.self, "\(bad)") { try decode(bad) }
            #expect(error.code == .invalidOperation, "\(bad)")
        }
        // An element that is not an object is named as such, once it has been read whole.
        for element in ["[\"operation\"]", "\"deleted\"", "7", "null"] {
            let error = try #require(throws: DeltaError.self, "\(element)") { try decode(element) }
            #expect(error.message == "operation 0 must be a JSON object", "\(element)")
        }
        let broken = try #require(throws: DeltaError.self) { try decode("[1,") }
        #expect(broken.message != "operation 0 must be a JSON object")
    }

    @Test func manifestKeepsTheLooseFieldsOfExistingClients() throws {
        let text = """
            {"version":"1.0","bundle_id":"b-1","sequence_number":null,"parent_sequence":"4","created_at":17,
            "operations":{"created":2,"moved":"x"},"total_files":3.0}
            """
        let manifest = try BundleManifest(jsonBytes: Array(text.utf8))
        #expect(manifest.bundleID == "b-1")
        #expect(manifest.sequenceNumber == nil)
        #expect(manifest.parentSequence == 4)
        #expect(manifest.createdAt == nil)
        #expect(manifest.operations?.created == 2)
        #expect(manifest.operations?.moved == 0)
        #expect(manifest.totalFiles == 3)
        #expect(throws: DeltaError.self) { try BundleManifest(jsonBytes: Array("{\"version\":\"1.0\"}".utf8)) }
    }

    @Test func hashesKeepNormalisationTwinsApart() throws {
        let text = "{\"file_hashes\":{\"\u{e9}\":\"sha1:aa\",\"e\u{301}\":\"sha1:bb\"}}"
        let pairs = try HashesDocument.fileHashes(jsonBytes: Array(text.utf8), maxEntries: 10)
        #expect(pairs.count == 2)
    }
}

/// The writer's manifest carries every key, `null` where unknown (the existing service requires them).
@Suite struct ManifestKeysTests {
    @Test func everyKeyIsWrittenWithNullForUnknown() throws {
        let manifest = BundleManifest(
            bundleID: "b", workspacePath: nil, collectionName: nil, createdAt: "2026-11-30T00:00:00Z",
            sequenceNumber: nil, parentSequence: nil, operations: OperationCounts(), totalFiles: 0, totalSizeBytes: 0)
        let object = try JSONDecoder().decode([String: JSONValue].self, from: JSONEncoder().encode(manifest))
        for key in [
            "version", "bundle_id", "workspace_path", "collection_name", "created_at", "sequence_number",
            "parent_sequence", "operations", "total_files", "total_size_bytes", "compression", "encoding",
        ] {
            #expect(object[key] != nil, "\(key)")
        }
        #expect(object["sequence_number"] == .null)
        #expect(object["parent_sequence"] == .null)
    }
}
